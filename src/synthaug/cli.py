"""The `synthaug` command: one subcommand per pipeline stage and tool.

Stage subcommands take their input and output paths as arguments that match dvc.yaml, read only
their own params sections, and are what `dvc repro` runs. Errors the user can fix are printed as
one message (exit code 2), never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from synthaug import __version__
from synthaug.errors import SynthaugError

PARAMS_HELP = "params file (default: params.yaml in the current folder)"


def _add_params(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help=PARAMS_HELP)


def cmd_demo(args: argparse.Namespace) -> None:
    from synthaug.stages import demo

    demo.main(args.params, args.data_dir, force=args.force)


def cmd_prepare(args: argparse.Namespace) -> None:
    from synthaug.stages import prepare

    prepare.main(args.params, args.out_dir, args.metrics)


def cmd_featurize(args: argparse.Namespace) -> None:
    from synthaug.stages import featurize

    featurize.main(args.params, args.manifest, args.out_dir, args.metrics)


def cmd_train_generator(args: argparse.Namespace) -> None:
    from synthaug.stages import train_generator

    train_generator.main(args.name, args.params, args.features, args.out_dir, args.metrics, manifest_path=args.manifest)


def cmd_synthesize(args: argparse.Namespace) -> None:
    from synthaug.stages import synthesize

    synthesize.main(args.name, args.params, args.features, args.model_dir, args.out_dir, args.metrics)


def cmd_train_classifier(args: argparse.Namespace) -> None:
    from synthaug.stages import train_classifier

    train_classifier.main(
        args.name,
        args.params,
        args.features,
        args.out_dir,
        args.metrics,
        args.plots,
        args.synthetic,
        args.audit,
        classic=args.classic,
    )


def cmd_ensemble(args: argparse.Namespace) -> None:
    from synthaug.stages import ensemble

    ensemble.main(args.params, args.classifiers, args.features, args.out_dir, args.metrics, manifest_path=args.manifest)


def cmd_audit(args: argparse.Namespace) -> None:
    from synthaug.stages import audit

    audit.main(
        args.params, args.features, args.classifiers, args.synthetic, args.out_dir, args.metrics, manifest_path=args.manifest
    )


def cmd_scarcity(args: argparse.Namespace) -> None:
    from synthaug.stages import scarcity

    scarcity.main(args.files_per_class, args.trial, args.params, args.manifest, args.features, args.out_dir, args.metrics)


def cmd_minority_scarcity(args: argparse.Namespace) -> None:
    from synthaug.stages import minority_scarcity

    minority_scarcity.main(args.fraction, args.trial, args.params, args.manifest, args.features, args.out_dir, args.metrics)


def cmd_report(args: argparse.Namespace) -> None:
    from synthaug.stages import report

    report.main(
        args.params,
        args.features,
        args.classifiers,
        args.ensemble,
        args.scarcity,
        args.audit,
        args.out_dir,
        args.metrics,
        args.plots,
        manifest_path=args.manifest,
        minority_scarcity_dir=args.minority_scarcity,
    )


def cmd_tune(args: argparse.Namespace) -> None:
    from synthaug.stages import tune

    tune.main(
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


def cmd_profile(args: argparse.Namespace) -> None:
    from synthaug import profiles

    root = Path.cwd()
    if args.name is None:
        print("profiles: " + ", ".join(profiles.available(root)))
        return
    changed = profiles.apply_profile(args.name, args.params, root)
    print(f"profile {args.name}: updated {', '.join(changed)} in {args.params} (git checkout {args.params} undoes it)")


def cmd_register(args: argparse.Namespace) -> None:
    from synthaug.stages import register

    register.main(args.params, args.classifiers, args.ensemble, args.features)


def cmd_promote(args: argparse.Namespace) -> None:
    from synthaug.stages import promote

    promote.main(args.params, args.manifest, dry_run=args.dry_run)


def cmd_predict(args: argparse.Namespace) -> None:
    from synthaug.stages import predict

    predict.main(args.model, args.paths, args.out)


def cmd_serve(args: argparse.Namespace) -> None:
    from synthaug import tracking

    # mlflow models serve starts `uvicorn` from PATH: put this environment's bin folder first.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": tracking.tracking_uri(Path.cwd())}
    mlflow_bin = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    print(
        f"serving {args.model} on http://{args.host}:{args.port}/invocations (Ctrl+C stops it)\n"
        f"  try: curl -X POST -H 'Content-Type: application/json' http://{args.host}:{args.port}/invocations "
        '-d \'{"dataframe_records": [{"path": "/abs/path/to/file.wav"}]}\'',
        flush=True,
    )
    # --env-manager local: the model runs in this environment, which has its pinned requirements.
    os.execve(
        mlflow_bin,
        [
            mlflow_bin,
            "models",
            "serve",
            "-m",
            args.model,
            "--env-manager",
            "local",
            "--host",
            args.host,
            "--port",
            str(args.port),
        ],
        env,
    )


def cmd_team(args: argparse.Namespace) -> None:
    from synthaug.team import check, remote, stack

    root = Path.cwd()
    if args.action == "up":
        stack.up(root, postgres_port=args.postgres_port, s3_port=args.s3_port, mlflow_port=args.mlflow_port)
    elif args.action == "down":
        stack.down(root)
    elif args.action == "remote":
        remote.configure_remote(root, args.url)
    else:
        checks = check.run_checks(root)
        print(check.render(checks))
        failed = [c.service for c in checks if c.ok is False]
        if failed:
            raise SynthaugError(f"not reachable: {', '.join(failed)} (see above)")


def cmd_import(args: argparse.Namespace) -> None:
    from synthaug.team.s3 import import_prefix

    report = import_prefix(args.url, args.dest)
    print(
        f"import: {len(report.downloaded)} file(s), {report.bytes / 1e6:.1f} MB downloaded and verified, "
        f"{len(report.skipped)} already present -> {args.dest}; version it with `dvc add data`"
    )


def cmd_ui(args: argparse.Namespace) -> None:
    from synthaug import tracking

    uri = tracking.tracking_uri(Path.cwd())
    if uri.startswith(("http://", "https://")):
        print(f"runs go to the MLflow server {uri}: its UI is at that address")
        return
    mlflow_bin = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    experiment_id = _project_experiment_id(uri)
    latest = _latest_pipeline_run(uri, experiment_id)
    url = tracking.ui_url(f"http://{args.host}:{args.port}", experiment_id, latest)
    print(
        f"MLflow UI for {uri}\n  open {url} in a browser (Ctrl+C stops it)\n"
        + (
            f"  it lists the runs of the latest pipeline execution ({latest}); clear the search box for all, or "
            f"group by the tag {tracking.PIPELINE_RUN_TAG} (Group by, in the run list)\n"
            if latest
            else ""
        )
        + '  MLflow 3 shows its GenAI pages unless the switch at its top left says "Model training"; this link sets it',
        flush=True,
    )
    os.execv(mlflow_bin, [mlflow_bin, "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)])


def _latest_pipeline_run(uri: str, experiment_id: str | None) -> str | None:
    """The pipeline execution tag of the experiment's newest run, if any (the UI opens filtered to it)."""
    from synthaug import tracking

    if experiment_id is None:
        return None
    try:
        from mlflow import MlflowClient

        return tracking.latest_pipeline_run(MlflowClient(uri), experiment_id)
    except Exception:  # noqa: BLE001 - only the link depends on it: the UI starts anyway, unfiltered
        return None


def _project_experiment_id(uri: str) -> str | None:
    """The id of the experiment of params.yaml's data set in the store at `uri`, if there is one yet."""
    from synthaug import tracking

    try:
        from mlflow import MlflowClient

        from synthaug.config import load_params

        experiment = MlflowClient(uri).get_experiment_by_name(
            tracking.experiment_name(load_params(Path("params.yaml")).dataset.name)
        )
    except Exception:  # noqa: BLE001 - only the link depends on it: the UI starts anyway, on the experiment list
        return None
    return experiment.experiment_id if experiment is not None else None


def cmd_readme_results(args: argparse.Namespace) -> None:
    from synthaug.readme_results import stale, update_readme

    if args.check:
        if stale(args.readme, args.results):
            raise SynthaugError(f"{args.readme}: its results block does not match {args.results}; run `synthaug readme-results`")
        print(f"{args.readme}: results block matches {args.results}")
        return
    changed = update_readme(args.readme, args.results)
    print(f"{args.readme}: results block {'rewritten' if changed else 'already up to date'} from {args.results}")


def cmd_where(args: argparse.Namespace) -> None:
    from synthaug import tracking

    root = Path.cwd()
    candidates = (
        "reports/results.md",
        "outputs/prepare/manifest.csv",
        "outputs/features",
        "outputs/generators",
        "outputs/synthetic",
        "outputs/audit",
        "outputs/classifiers",
        "outputs/ensemble",
        "outputs/scarcity",
        "outputs/minority_scarcity",
        "metrics",
        "plots",
    )
    outputs = [p for p in candidates if (root / p).exists()]
    print("Results:")
    for path in outputs:
        print(f"  {path}")
    print("  `dvc metrics show` prints the metrics; `dvc plots show` renders the curves.")
    print(f"MLflow runs: {tracking.tracking_uri(root)}")
    print(f"  artifacts: {tracking.artifact_root(root) or 'those of the tracking server'}")
    print("  open the UI with `make ui` (then http://127.0.0.1:5000)")
    print(
        "Next: `make promote` registers the classifiers and promotes a champion; "
        "`make predict FILES=...` classifies new audio with it."
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthaug",
        description="Does synthetic training data help your audio classifier? Each subcommand is one "
        "pipeline stage or tool; `dvc repro` runs the stages in order.",
    )
    parser.add_argument("--version", action="version", version=f"synthaug {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="write the built-in demo data sets into data/ (only when data/ holds no files)",
        description="Reads params `demo`. Writes DATA_DIR/demo/cough and DATA_DIR/demo/machine: audio "
        "files plus metadata.csv, generated from a seed (no download). Does nothing when DATA_DIR already "
        "holds files, unless --force.",
    )
    _add_params(demo)
    demo.add_argument("data_dir", type=Path, nargs="?", default=Path("data"), help="data folder (default: data)")
    demo.add_argument("--force", action="store_true", help="write the demo sets even if DATA_DIR holds files")
    demo.set_defaults(func=cmd_demo)

    prepare = commands.add_parser(
        "prepare",
        help="stage: raw audio + metadata -> manifest with grouped, stratified splits",
        description="Reads params `dataset`, `prepare`, `featurize.sample_rate` and `featurize.f_max`, and the "
        "audio under dataset.root. Writes OUT_DIR/manifest.csv (path, label, group, split, source, duration_s, "
        "sample_rate, channels), OUT_DIR/report.json (what the adapter excluded and why), "
        "OUT_DIR/data_report.json (per class and split: files, groups, durations, native sample rates and "
        "channels, warnings; also printed) and METRICS (counts per class and split). Logs an MLflow run. "
        "Stops when files would be upsampled (unless prepare.allow_upsampling) or most listed files are missing.",
    )
    _add_params(prepare)
    prepare.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/prepare")
    prepare.add_argument("--metrics", type=Path, default=Path("metrics/prepare.json"), help="metrics JSON to write")
    prepare.set_defaults(func=cmd_prepare)

    featurize = commands.add_parser(
        "featurize",
        help="stage: manifest -> normalized log-mel spectrograms per split",
        description="Reads params `dataset` and `featurize`, MANIFEST and the audio it lists. Writes "
        "OUT_DIR/{train,val,test}.npz, OUT_DIR/normalizer.json (per-mel mean/std from train), "
        "OUT_DIR/report.json (skipped files) and METRICS. Logs an MLflow run with example spectrograms.",
    )
    _add_params(featurize)
    featurize.add_argument("manifest", type=Path, help="manifest CSV written by prepare")
    featurize.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/features")
    featurize.add_argument("--metrics", type=Path, default=Path("metrics/featurize.json"), help="metrics JSON to write")
    featurize.set_defaults(func=cmd_featurize)

    train_gen = commands.add_parser(
        "train_generator",
        help="stage: training spectrograms -> a trained generator (vae, wgan_gp, ddpm or cgan)",
        description="Reads params `dataset`, `train_generator` and `train_generator.models.NAME`, and "
        "FEATURES/train.npz. Writes OUT_DIR/*.pt and OUT_DIR/generators.json, METRICS, and resumable "
        "checkpoints under checkpoints/train_generator/NAME/. Logs an MLflow run with losses and sample grids. "
        "Before training several per-class models it says how many and estimates their total time. With "
        "train_generator.fidelity_snapshots above 1 it also reads FEATURES/val.npz and serves the snapshot "
        "closest to the selection half of validation.",
    )
    _add_params(train_gen)
    train_gen.add_argument("name", help="generator: vae, wgan_gp, ddpm or cgan")
    train_gen.add_argument("features", type=Path, help="folder written by featurize")
    train_gen.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/generators/vae")
    train_gen.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    train_gen.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="manifest CSV written by prepare (file -> group, which keeps participants whole in the "
        "validation halves when choosing snapshots; without it each file is its own group)",
    )
    train_gen.set_defaults(func=cmd_train_generator)

    synthesize = commands.add_parser(
        "synthesize",
        help="stage: a trained generator -> a labelled synthetic spectrogram set with previews",
        description="Reads params `dataset`, `train_generator.classes`, `train_generator.minority_tolerance` and "
        "`synthesize`, FEATURES/train.npz, "
        "FEATURES/normalizer.json and MODEL_DIR. Writes OUT_DIR/synthetic.npz, OUT_DIR/real_vs_synthetic.png, "
        "OUT_DIR/previews/*.wav and METRICS. Logs an MLflow run linked to the generator's run.",
    )
    _add_params(synthesize)
    synthesize.add_argument("name", help="generator: vae, wgan_gp, ddpm or cgan")
    synthesize.add_argument("features", type=Path, help="folder written by featurize")
    synthesize.add_argument("model_dir", type=Path, help="folder written by train_generator")
    synthesize.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/synthetic/vae")
    synthesize.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    synthesize.set_defaults(func=cmd_synthesize)

    train_cls = commands.add_parser(
        "train_classifier",
        help="stage: spectrograms (+ an optional synthetic set) -> a trained, evaluated classifier",
        description="Reads params `dataset` and `train_classifier`, FEATURES/{train,val,test}.npz, "
        "FEATURES/normalizer.json and, with --synthetic, a synthetic set added to training only (curated with "
        "--audit's scores when curation.enabled). Writes "
        "for each seed in train_classifier.seeds OUT_DIR/seed<S>/ (model.pt, predictions_{val,test}.csv, "
        "evaluation.json, learning curve and figures), then METRICS (mean and std over seeds) and "
        "PLOTS/learning_curve.csv; resumable checkpoints wait under checkpoints/train_classifier/NAME/. "
        "Logs one MLflow run per seed with curves, figures and the model.",
    )
    _add_params(train_cls)
    train_cls.add_argument("name", help="name of this classifier variant, e.g. baseline")
    train_cls.add_argument("features", type=Path, help="folder written by featurize")
    train_cls.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/classifiers/baseline")
    train_cls.add_argument("--synthetic", type=Path, help="synthetic set (synthetic.npz) to add to training")
    train_cls.add_argument("--audit", type=Path, help="the synthetic set's audit folder (scores.npz), used when curation.enabled")
    train_cls.add_argument(
        "--classic",
        action="store_true",
        help="the '+ classic augmentation' method: the real data alone with train_classifier.classic_augmentation",
    )
    train_cls.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    train_cls.add_argument("--plots", type=Path, required=True, help="folder for the learning-curve CSV")
    train_cls.set_defaults(func=cmd_train_classifier)

    audit = commands.add_parser(
        "audit",
        help="stage: synthetic sets -> fidelity, diversity and memorization audit per generator and class",
        description="Reads params `dataset`, `audit`, `train_generator.models` and `train_classifier.seeds`, "
        "FEATURES/{train,val}.npz (never test), the manifest (the group of each validation file), "
        "CLASSIFIERS/baseline/seed<S>/model.pt and SYNTHETIC/<name>/synthetic.npz. Writes "
        "OUT_DIR/<name>/{audit.json,scores.npz,nearest_neighbours.png} and METRICS, each with the real-validation "
        "reference row; logs the audit into each generator's MLflow run.",
    )
    _add_params(audit)
    audit.add_argument("features", type=Path, help="folder written by featurize")
    audit.add_argument("classifiers", type=Path, help="folder of trained classifiers (the baseline's are used)")
    audit.add_argument("synthetic", type=Path, help="folder of synthetic sets, e.g. outputs/synthetic")
    audit.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/audit")
    audit.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    audit.add_argument(
        "--manifest",
        type=Path,
        required=True,
        help="manifest CSV written by prepare, e.g. outputs/prepare/manifest.csv (validation file -> group)",
    )
    audit.set_defaults(func=cmd_audit)

    ensemble = commands.add_parser(
        "ensemble",
        help="stage: members' predictions -> ensemble predictions per seed (equal and validation-fitted weights)",
        description="Reads params `dataset`, `ensemble` and `train_classifier.seeds`, FEATURES/val.npz and "
        "CLASSIFIERS/<member>/seed<S>/predictions_{val,test}.csv. Writes OUT_DIR/equal/seed<S>/ and, with "
        "ensemble.fit_weights, OUT_DIR/fitted/seed<S>/ (predictions, evaluation, figures; weights fitted on one half "
        "of the validation groups, validation scores from the other half), and METRICS. "
        "Logs one MLflow run per variant and seed, tagged with its members' run ids.",
    )
    _add_params(ensemble)
    ensemble.add_argument("classifiers", type=Path, help="folder of trained classifiers, e.g. outputs/classifiers")
    ensemble.add_argument("features", type=Path, help="folder written by featurize")
    ensemble.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/ensemble")
    ensemble.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    ensemble.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="manifest CSV written by prepare (validation file -> group, the unit of the weights' "
        "validation halves); without it each file is its own group",
    )
    ensemble.set_defaults(func=cmd_ensemble)

    scarcity = commands.add_parser(
        "scarcity",
        help="stage: one point of the data-scarcity sweep (N real files per class, trial T)",
        description="Reads params `dataset`, `train_generator`, `synthesize`, `train_classifier` and `scarcity`, "
        "MANIFEST and FEATURES/{train,val,test}.npz. Trains the conditional GAN on exactly N files per class "
        "(seed T), synthesizes synthesize.n_per_class spectrograms per class and trains four classifiers "
        "(baseline, baseline_classic, gan, gan_classic). Writes OUT_DIR/<variant>/, OUT_DIR/point.json, "
        "OUT_DIR/subset.txt, OUT_DIR/real_vs_synthetic.png and METRICS. Logs MLflow runs for the GAN and each classifier.",
    )
    _add_params(scarcity)
    scarcity.add_argument("files_per_class", type=int, help="real training files per class, one of scarcity.files_per_class")
    scarcity.add_argument("trial", type=int, help="trial number, one of scarcity.trials (seeds the GAN and classifiers)")
    scarcity.add_argument("manifest", type=Path, help="manifest CSV written by prepare")
    scarcity.add_argument("features", type=Path, help="folder written by featurize")
    scarcity.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/scarcity/n4-t0")
    scarcity.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    scarcity.set_defaults(func=cmd_scarcity)

    minority = commands.add_parser(
        "minority_scarcity",
        help="stage: one point of the medical scarcity sweep (a share F of the minority's training groups, trial T)",
        description="Reads params `dataset`, `train_generator`, `synthesize`, `train_classifier` and `minority_scarcity`, "
        "MANIFEST and FEATURES/{train,val,test}.npz. Keeps the majority whole and a share F of each minority class's "
        "training groups, trains each of minority_scarcity.generators on that minority subset (seed T), and trains "
        "classifiers for the baseline, + classic augmentation, + each generator and + real (ceiling): as many real "
        "minority spectrograms from the groups the subset left out. Writes OUT_DIR/<arm>/, OUT_DIR/point.json, "
        "OUT_DIR/subset.txt, OUT_DIR/ceiling.txt and METRICS; logs MLflow runs for each generator and classifier.",
    )
    _add_params(minority)
    minority.add_argument(
        "fraction", type=float, help="share of the minority's training groups, one of minority_scarcity.fractions"
    )
    minority.add_argument(
        "trial", type=int, help="trial number, one of minority_scarcity.trials (draws the subset, seeds the models)"
    )
    minority.add_argument("manifest", type=Path, help="manifest CSV written by prepare")
    minority.add_argument("features", type=Path, help="folder written by featurize")
    minority.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/minority_scarcity/f0.25-t0")
    minority.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    minority.set_defaults(func=cmd_minority_scarcity)

    report = commands.add_parser(
        "report",
        help="stage: all predictions -> reports/results.md with statistics, figures and an MLflow summary run",
        description="Reads params `dataset`, `train_generator.models`, `train_classifier.seeds`, `ensemble`, "
        "`scarcity` and `report`, FEATURES/val.npz, the manifest (the group of each test file, the unit the bootstrap "
        "and permutation tests resample) and the run folders under CLASSIFIERS, ENSEMBLE and SCARCITY. "
        "Writes OUT_DIR/results.md, OUT_DIR/results.json, OUT_DIR/figures/*.png, METRICS and PLOTS/*.csv. "
        "Logs an MLflow summary run linked to every run it summarizes.",
    )
    _add_params(report)
    report.add_argument("features", type=Path, help="folder written by featurize")
    report.add_argument("classifiers", type=Path, help="folder of trained classifiers, e.g. outputs/classifiers")
    report.add_argument("ensemble", type=Path, help="folder written by the ensemble stage")
    report.add_argument("scarcity", type=Path, help="folder of the scarcity sweep's points, e.g. outputs/scarcity")
    report.add_argument("audit", type=Path, help="folder written by the audit stage, e.g. outputs/audit")
    report.add_argument("out_dir", type=Path, help="output folder, e.g. reports")
    report.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    report.add_argument("--plots", type=Path, required=True, help="folder for the dvc plots CSVs")
    report.add_argument(
        "--manifest",
        type=Path,
        required=True,
        help="manifest CSV written by prepare, e.g. outputs/prepare/manifest.csv (test file -> group)",
    )
    report.add_argument(
        "--minority-scarcity",
        type=Path,
        default=None,
        help="folder of the medical scarcity sweep's points, e.g. outputs/minority_scarcity (read when minority_scarcity.fractions is set)",
    )
    report.set_defaults(func=cmd_report)

    tune = commands.add_parser(
        "tune",
        help="tool: Optuna study of the synthetic share and a generator's hyperparameters (outside dvc repro)",
        description="Reads params `tune` (search space, storage, trials), `train_generator`, `synthesize`, "
        "`train_classifier` and `dataset`, and FEATURES/{train,val}.npz (never the test split). Creates the study "
        "once (--create-only), runs trials as a worker (--worker joins an existing study), and by default does both. "
        "Writes the study to the Optuna storage and the best trial's values to profiles/tuned-<generator>.yaml: `synthaug profile tuned-<generator> "
        "&& dvc repro` re-runs the pipeline with them. Logs a parent MLflow run per study and a nested run per trial.",
    )
    _add_params(tune)
    tune.add_argument(
        "features",
        type=Path,
        nargs="?",
        default=Path("outputs/features"),
        help="folder written by featurize (default: outputs/features)",
    )
    tune.add_argument("--generator", help="generator to tune (default: tune.generator)")
    tune.add_argument("--n-trials", type=int, help="trials in the study (default: tune.n_trials)")
    tune.add_argument("--storage", help="null/optuna.db, journal:PATH or an SQLAlchemy URL (default: tune.storage)")
    tune.add_argument("--study-name", help="study name (default: tune.study_name or synthaug-<dataset>-<generator>)")
    tune.add_argument("--create-only", action="store_true", help="create the study and exit (run once before workers)")
    tune.add_argument("--worker", action="store_true", help="join an existing study and run trials until it is finished")
    tune.add_argument("--threads", type=int, help="torch threads per worker (default: all cores)")
    tune.set_defaults(func=cmd_tune)

    profile = commands.add_parser(
        "profile",
        help="apply a profile (profiles/NAME.yaml) to params.yaml",
        description="Reads profiles/NAME.yaml and PARAMS. Writes PARAMS with the profile merged in (comments "
        "kept; validated first). Without NAME, lists the profiles.",
    )
    _add_params(profile)
    profile.add_argument("name", nargs="?", help="profile name, e.g. tiny or machine")
    profile.set_defaults(func=cmd_profile)

    register = commands.add_parser(
        "register",
        help="register every evaluated classifier and ensemble as a version of the data set's registered model",
        description="Reads params `dataset` and `registry`, the run folders under CLASSIFIERS and ENSEMBLE and "
        "FEATURES/{val.npz,normalizer.json}. Writes each run's audio model (preprocessing + networks) into its MLflow "
        "run and registers it with its metrics and lineage as version tags; runs already registered are skipped.",
    )
    _add_params(register)
    register.add_argument(
        "classifiers",
        type=Path,
        nargs="?",
        default=Path("outputs/classifiers"),
        help="classifier run folders (default: outputs/classifiers)",
    )
    register.add_argument(
        "ensemble",
        type=Path,
        nargs="?",
        default=Path("outputs/ensemble"),
        help="ensemble run folders (default: outputs/ensemble)",
    )
    register.add_argument(
        "features", type=Path, nargs="?", default=Path("outputs/features"), help="featurize outputs (default: outputs/features)"
    )
    register.set_defaults(func=cmd_register)

    promote = commands.add_parser(
        "promote",
        help="move the `champion` alias to the best registered version when it beats the champion",
        description="Reads params `dataset` and `registry` (metric, margin) and the registry. Picks the version "
        "with the best validation metric on the current data version, compares it with the champion on the same "
        "split and moves `champion` (old one: `previous`) only when it is better by more than the margin. Writes "
        "the aliases and the reasons as tags in the registry. A champion of another data version is re-evaluated "
        "on MANIFEST's validation files.",
    )
    _add_params(promote)
    promote.add_argument(
        "manifest",
        type=Path,
        nargs="?",
        default=Path("outputs/prepare/manifest.csv"),
        help="manifest, for re-evaluating an older champion (default: outputs/prepare/manifest.csv)",
    )
    promote.add_argument("--dry-run", action="store_true", help="print the decision, change nothing")
    promote.set_defaults(func=cmd_promote)

    predict = commands.add_parser(
        "predict",
        help="classify audio files or folders with a registered model",
        description="Reads MODEL (e.g. models:/synthaug-cough@champion) and the audio files under PATHS (folders "
        "are searched recursively). Writes OUT: path, label, one probability per class, clips, error. Unusable "
        "files are listed on stderr and in the error column.",
    )
    predict.add_argument("model", help="model URI, e.g. models:/synthaug-cough@champion")
    predict.add_argument("paths", type=Path, nargs="+", help="audio files and folders")
    predict.add_argument("--out", type=Path, default=Path("predictions.csv"), help="CSV to write (default: predictions.csv)")
    predict.set_defaults(func=cmd_predict)

    serve = commands.add_parser(
        "serve",
        help="serve a registered model over HTTP (mlflow models serve in this environment)",
        description="Reads MODEL from the project's MLflow store (or MLFLOW_TRACKING_URI). Writes nothing: POST "
        '/invocations with {"dataframe_records": [{"path": ...}]} or waveform rows answers the model\'s predictions.',
    )
    serve.add_argument("model", help="model URI, e.g. models:/synthaug-cough@champion")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5001, help="port (default: 5001)")
    serve.set_defaults(func=cmd_serve)

    team = commands.add_parser(
        "team",
        help="team setup: a local stack (up/down), the DVC remote, and a connectivity check",
        description="Reads the environment and team.env (see synthaug.team.settings). Writes, for up: .team/ (a "
        "PostgreSQL cluster, an S3 endpoint (moto) and an MLflow server on loopback, their logs) and team.env "
        "pointing at them; down: stops them; remote: SYNTHAUG_DVC_REMOTE as the default DVC remote in "
        ".dvc/config.local; check: nothing, it reports which configured services answer.",
    )
    team.add_argument("action", choices=["up", "down", "remote", "check"])
    team.add_argument("url", nargs="?", help="remote: the DVC remote's URL (default: SYNTHAUG_DVC_REMOTE)")
    team.add_argument("--postgres-port", type=int, help="up: PostgreSQL port (default: a free one)")
    team.add_argument("--s3-port", type=int, help="up: S3 endpoint port (default: a free one)")
    team.add_argument("--mlflow-port", type=int, help="up: MLflow server port (default: a free one)")
    team.set_defaults(func=cmd_team)

    import_ = commands.add_parser(
        "import",
        help="download a raw data set from S3 into data/ (resumable, verified)",
        description="Reads every object under s3://BUCKET/PREFIX (endpoint and credentials from the environment or "
        "team.env). Writes them below DEST with their paths, and DEST/.synthaug-import.json; re-running skips "
        "what is already there.",
    )
    import_.add_argument("url", help="s3://BUCKET/PREFIX")
    import_.add_argument("dest", type=Path, help="folder to write, e.g. data/coswara")
    import_.set_defaults(func=cmd_import)

    ui = commands.add_parser(
        "ui",
        help="serve the MLflow UI on the project's tracking store",
        description="Reads the tracking store (mlflow.db in the project, or MLFLOW_TRACKING_URI). Writes nothing.",
    )
    ui.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    ui.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    ui.set_defaults(func=cmd_ui)

    where = commands.add_parser(
        "where",
        help="print where the pipeline's outputs and MLflow runs are",
        description="Reads nothing but the folder layout. Writes nothing.",
    )
    where.set_defaults(func=cmd_where)

    readme = commands.add_parser(
        "readme-results",
        help="rewrite README.md's results block from reports/results.json (--check: fail when stale)",
        description="Reads RESULTS (the report stage's results.json). Writes the marked results block of README.",
    )
    readme.add_argument("--readme", type=Path, default=Path("README.md"), help="default: README.md")
    readme.add_argument("--results", type=Path, default=Path("reports/results.json"), help="default: reports/results.json")
    readme.add_argument("--check", action="store_true", help="only check: exit 2 when the block is stale")
    readme.set_defaults(func=cmd_readme_results)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from synthaug.team.settings import load_team_env

        load_team_env(Path.cwd())  # the team's services, when team.env says where they are
        args.func(args)
    except SynthaugError as exc:
        print(f"synthaug {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"synthaug {args.command}: interrupted; outputs of this step were not written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
