"""tune: an Optuna study of the synthetic share and one generator's hyperparameters (not a DVC stage).

Reads params `dataset.name`, `dataset.protocol`, `train_generator`, `synthesize`, `train_classifier`
and `tune`; reads FEATURES/train.npz, FEATURES/val.npz and FEATURES/normalizer.json only (the test
split is never opened). The study lives in the Optuna storage (`tune.storage`: null = optuna.db in
the project, journal:PATH, or an SQLAlchemy URL); runs go to the project's MLflow experiment.
Writes the study's trials to that storage and the best trial's values to
profiles/tuned-<generator>.yaml (`synthaug profile tuned-<generator> && dvc repro` re-runs the
pipeline with them).

Three ways to run it:
- default: create the study if needed, run one worker until the study has its n_trials finished
  trials, then write profiles/tuned-<generator>.yaml with the best trial's values;
- create_only: create the study (and its MLflow parent run) and return, so that several workers
  can then start together (on an empty database, workers creating it at once would race);
- worker: join an existing study and run trials until it is finished; the worker that sees it
  finished also writes the profile (every worker writes the same one).
Arguments given here (generator, n_trials, storage, study_name) override the `tune` params.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from synthaug import tuning
from synthaug.class_plan import describe_classes, learned_classes
from synthaug.cli_arguments import add_params
from synthaug.config import PROFILES_DIR, Params, load_params
from synthaug.errors import ConfigError
from synthaug.generator_configs import GENERATOR_CONFIGS


def trial_setup(params: Params, generator: str, num_threads: int | None = None) -> tuning.TrialSetup:
    """The params sections a trial of `generator` reads."""
    return tuning.TrialSetup(
        generator=generator,
        generation=params.train_generator,
        synthesize=params.synthesize,
        classifier=params.train_classifier,
        curation=params.curation,
        audit=params.audit,
        seeds=tuple(params.tune.seeds),
        objective=params.report.primary_endpoints[0],
        num_threads=num_threads,
    )


def main(
    params_path: Path,
    features_dir: Path,
    *,
    generator: str | None = None,
    n_trials: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    create_only: bool = False,
    worker: bool = False,
    threads: int | None = None,
    project_root: Path = Path("."),
) -> Path | None:
    """Run `synthaug tune`; return the written profile's path (None with create_only).

    `threads`: torch threads per worker (None: all cores; give 1 when running one worker per core).
    """
    import optuna

    if create_only and worker:
        raise ConfigError("tune: --create-only and --worker exclude each other")
    params = load_params(params_path)
    settings, dataset = params.tune, params.dataset
    params.train_classifier.refuse_utility_selection("the tuning objective")
    generator = generator or settings.generator
    if generator not in params.train_generator.models:
        raise ConfigError(
            f"tune.generator: {generator!r} is not in train_generator.models ({', '.join(params.train_generator.models)})"
        )
    # Team setups name the shared database in the environment (team.env), not in params.yaml.
    storage_name = storage if storage is not None else (settings.storage or os.environ.get("SYNTHAUG_TUNE_STORAGE"))
    name = study_name or settings.study_name or f"synthaug-{dataset.name}-{generator}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the worker prints one line per trial itself
    optuna_storage = tuning.make_storage(storage_name, project_root)
    tracking = tuning.Tracking(project_root, dataset.name, dataset.protocol)
    where = f"study {name} in {tuning.redacted(storage_name) if storage_name else tuning.OPTUNA_DB}"

    data = tuning.load_tune_data(features_dir)
    setup = trial_setup(params, generator, num_threads=threads)
    # train_generator.classes that no trial can use (minority on balanced data) stops here, before a study
    # is created, not in every trial.
    learned_classes(data.train.y, data.train.class_names, setup.classes, setup.generation.minority_tolerance)
    if worker:
        study = tuning.load_study(name, optuna_storage)
    else:
        space = tuning.search_space(settings, generator, sorted(GENERATOR_CONFIGS[generator].model_fields))
        study = tuning.create_study(
            name,
            optuna_storage,
            n_trials=n_trials or settings.n_trials,
            generator=generator,
            space=space,
            pruner=settings.pruner,
            sampler_seed=settings.sampler_seed,
            tracking=tracking,
            storage_name=storage_name,
            run_params={
                "seeds": settings.seeds,
                "classes": describe_classes(params.train_generator.classes),
                "train_classifier": params.train_classifier.model_dump(exclude={"seeds"}),
                "train_generator": params.train_generator.models[generator],
            },
        )
        if create_only:
            storage_flag = f" --storage '{tuning.redacted(storage)}'" if storage else ""  # else workers read tune.storage
            print(
                f"tune: created {where} ({study.user_attrs[tuning.N_TRIALS_ATTR]} trials); start workers with\n"
                f"  synthaug tune --worker --generator {generator} --study-name {name}{storage_flag}"
            )
            return None
    if study.user_attrs.get(tuning.GENERATOR_ATTR) != generator:
        raise ConfigError(f"{where} tunes {study.user_attrs.get(tuning.GENERATOR_ATTR)}, not {generator}; pass --generator")

    print(f"tune: {where}, generator {generator}, {study.user_attrs[tuning.N_TRIALS_ATTR]} trials")
    report = tuning.run_worker(study, tuning.make_objective(study, data, setup, tracking))
    best = tuning.finish_study(study, tracking)
    profile = Path(project_root) / PROFILES_DIR / f"tuned-{generator}.yaml"
    tuning.write_best_params(study, setup, profile)
    assert best is not None  # write_best_params refused a study with no completed trial
    print(
        f"tune: this worker finished {len(report.finished)} trial(s); best is trial {best.number} "
        f"(validation {setup.objective} {best.value:.4f}) with {best.params}"
    )
    print(f"tune: best parameters -> {profile}\n  use them: synthaug profile tuned-{generator} && dvc repro")
    return profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug tune` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument(
        "features",
        type=Path,
        nargs="?",
        default=Path("outputs/features"),
        help="folder written by featurize (default: outputs/features)",
    )
    parser.add_argument("--generator", help="generator to tune (default: tune.generator)")
    parser.add_argument("--n-trials", type=int, help="trials in the study (default: tune.n_trials)")
    parser.add_argument("--storage", help="null/optuna.db, journal:PATH or an SQLAlchemy URL (default: tune.storage)")
    parser.add_argument("--study-name", help="study name (default: tune.study_name or synthaug-<dataset>-<generator>)")
    parser.add_argument("--create-only", action="store_true", help="create the study and exit (run once before workers)")
    parser.add_argument("--worker", action="store_true", help="join an existing study and run trials until it is finished")
    parser.add_argument("--threads", type=int, help="torch threads per worker (default: all cores)")


def run(args: argparse.Namespace) -> None:
    """`synthaug tune`: main with the parsed arguments."""
    main(
        args.params,
        args.features,
        generator=args.generator,
        n_trials=args.n_trials,
        storage=args.storage,
        study_name=args.study_name,
        create_only=args.create_only,
        worker=args.worker,
        threads=args.threads,
    )
