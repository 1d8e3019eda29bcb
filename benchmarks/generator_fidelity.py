"""Does each generator learn, and at what cost? Fidelity of its samples against optimizer steps.

Every generator of params.yaml's `train_generator.models` (the active profile's recipes, or
`--profile`'s) trains on one class of real spectrograms, as one continuing training (`Generator.fit`
carries its random state and batch stream across calls, so stopping at each budget to sample changes
nothing). At each budget of optimizer steps (`--steps 250,500,1000,2000`) it draws `--samples`
spectrograms, which the audit (`synthaug.evaluation.fidelity.audit_class`, as the audit stage scores a
synthetic set, group folds included, with 3 splits instead of 5 and without the comparisons against the
training data, which no figure here reads) compares with real recordings of that class the generator
never saw. Every point is trained with `--seeds` (at least 3 for a quoted figure).

Held-out real data come in two halves split by group, so that nothing is chosen on the data it is
reported on:
- the *selection* half chooses: the budget (and recipe) a generator should use is the one with the
  lowest mean strongest two-sample AUROC on it;
- the *reporting* half gives the quoted figures, mean ± sd over seeds.
Each half has its own "real (validation)" reference row (what a perfect generator would score there).

Data (`--data`):
- `demo`: the demo cough data's minority class at the active profile's resolution, read from a
  pipeline's outputs (`--project`, default this repository; run `make run` first). Training: the
  training split's positives; selection half: the validation participants; reporting half: the test
  participants (the pipeline's own splits, grouped by participant). Views: the first seed's baseline
  classifier embedding and a random projection of the log-mel.
- `covid19-cough`: one class (`--label positive` or `negative`) of the Telegram recordings in
  ../shared/datasets/covid19-cough (48 kHz, one recording per person), featurized with the profile's
  featurize settings and z-scored on the training part: two thirds train, one sixth selects, one
  sixth reports (split by file, seeded). Views: the log-mel projection and per-band mean and standard
  deviation over time.

Cost columns: CPU seconds of the training process per optimizer step (one torch thread; averaged over
the steps so far) and per generated sample (sampling is timed apart from training); `--clock wall`
measures wall-clock seconds instead (on a GPU, where CPU time says little).

    python benchmarks/generator_fidelity.py --data demo --steps 250,500,1000,2000 --seeds 0,1,2 --jobs 2
    python benchmarks/generator_fidelity.py --data covid19-cough --label positive
    python benchmarks/generator_fidelity.py --data covid19-cough --label negative
    python benchmarks/generator_fidelity.py --plot        # figure and tables from the saved results

A recipe change is measured as a variant beside the recipe it changes: `--generators vae --set
latent_density=mixture --variant mixture` trains params.yaml's VAE with that key changed and reports
its rows as `vae+mixture` (a later run of the same variant replaces them; every other row is kept).

`--teacher --variant NAME` (demo) trains one class-conditional model on every class of the training
split (`teacher_classes: all`) and samples it for the minority class, scored as above; with `--set
fine_tune_steps=N` and one `--steps` budget B, the teacher trains B - N steps, then the fine-tune N on
the minority class alone.

`--minutes M` caps each training's wall-clock time over all its budgets (the training stops inside a
budget and its last point says how many steps it reached): the GPU check's sizing. `--features FILE`
keeps the featurized covid19-cough class in FILE, read when it exists, so a machine without the data
set (the GPU machine) runs on features made here (`--featurize-only` writes them and stops).

Results go to benchmarks/results/generator_fidelity_<data>.json, the figure to
benchmarks/generator_fidelity.png and markdown tables to stdout (for benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "benchmarks"  # results/generator_fidelity_DATA.json and generator_fidelity.png go here
COUGH_ROOT = ROOT.parent / "shared" / "datasets" / "covid19-cough"
HALVES = ("selection", "reporting")


def demo_class(project: Path) -> dict:
    """The demo's minority class from a pipeline's outputs: train, the two held-out halves and the views."""
    from synthaug.classifiers.saved import load_classifier
    from synthaug.datasets.manifest import file_groups
    from synthaug.evaluation.distances import band_statistics, random_projection
    from synthaug.spectrograms import load_spectrogram_set
    from synthaug.training import predict_embeddings

    features, classifier = (
        project / "outputs" / "features",
        project / "outputs" / "classifiers" / "baseline" / "seed0" / "model.pt",
    )
    if not (features / "test.npz").is_file() or not classifier.is_file():
        sys.exit(f"{features} or {classifier} is missing: run `make run` first (the demo data and its baseline)")
    sets = {split: load_spectrogram_set(features / f"{split}.npz") for split in ("train", "val", "test")}
    train = sets["train"]
    c = int(np.argmin(np.bincount(train.y, minlength=len(train.class_names))))
    manifest = project / "outputs" / "prepare" / "manifest.csv"
    model = load_classifier(classifier)[0]

    def part(split: str) -> tuple[np.ndarray, np.ndarray]:
        chosen = sets[split].y == c
        return sets[split].x[chosen], file_groups(sets[split].file_id[chosen], manifest)

    (x_train, train_groups), (x_select, select_groups), (x_report, report_groups) = (part(s) for s in ("train", "val", "test"))
    return {
        "name": f"demo-cough, class {train.class_names[c]}",
        # --teacher: every training spectrogram, labelled, teaches one conditional model sampled for class c.
        "teacher_x": train.x,
        "teacher_y": train.y,
        "teacher_label": c,
        "train": x_train,
        "train_groups": train_groups,
        "selection": x_select,
        "selection_groups": select_groups,
        "reporting": x_report,
        "reporting_groups": report_groups,
        "views": {
            "classifier": lambda x: predict_embeddings(model, np.asarray(x, np.float32)),
            "log_mel": lambda x: random_projection(x, dim=128, seed=0),
            "band_statistics": band_statistics,
        },
    }


def generator_params(profile: str | None):
    """params.yaml's sections, with profiles/PROFILE.yaml applied (on a copy) when a profile is named."""
    from synthaug.config import load_params
    from synthaug.profiles import apply_profile

    if profile is None:
        return load_params(ROOT / "params.yaml")
    folder = Path(tempfile.mkdtemp())
    (folder / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    apply_profile(profile, folder / "params.yaml", ROOT)
    return load_params(folder / "params.yaml")


def featurize_cough(cache: Path, profile: str | None, label: str, seed: int = 0) -> None:
    """One class of the Telegram cough recordings featurized with the profile's settings, z-scored on the
    training part, written to `cache` (outside the repository: the data set is not part of it)."""
    from synthaug.datasets.covid19_cough import load
    from synthaug.features import extract, fit_normalizer

    if not (COUGH_ROOT / "metadata.json").is_file():
        sys.exit(f"{COUGH_ROOT} is missing: the covid19-cough data set is read from ../shared/datasets")
    listing = load(COUGH_ROOT, sources=["telegram"]).manifest
    files = listing[listing["label"] == label].reset_index(drop=True)
    params = generator_params(profile).featurize
    extraction = extract(
        [COUGH_ROOT / p for p in files["path"]], list(files["path"]), params.log_mel(), workers=2, progress=False
    )
    order = np.random.default_rng(seed).permutation(len(extraction.x))
    n_train, n_select = round(len(order) * 2 / 3), round(len(order) / 6)
    parts = {"train": order[:n_train], "selection": order[n_train : n_train + n_select], "reporting": order[n_train + n_select :]}
    x = fit_normalizer(extraction.x[parts["train"]]).apply(extraction.x)
    groups = extraction.file_id  # one recording per person: each file its own group
    np.savez(
        cache,
        **{name: x[rows] for name, rows in parts.items()},
        **{f"{name}_groups": groups[rows] for name, rows in parts.items()},
    )


def load_class(data: str, cache: Path, project: Path, label: str) -> dict:
    if data == "demo":
        return demo_class(project)
    from synthaug.evaluation.distances import band_statistics, random_projection

    saved = np.load(cache)
    return {
        "name": f"covid19-cough, Telegram {label}s",
        **{key: saved[key] for key in saved.files},
        "views": {"log_mel": lambda v: random_projection(v, dim=128, seed=0), "band_statistics": band_statistics},
    }


def score(data: dict, samples: np.ndarray, half: str) -> dict:
    """The audit of `samples` against one held-out half: the strongest two-sample AUROC (and where), KID,
    coverage, recall and copies in the first view, with the half's own reference row."""
    from synthaug.evaluation.fidelity import REFERENCE, audit_class, strongest_two_sample

    rows = {
        view: audit_class(
            embed(data["train"]),
            embed(data[half]),
            data[f"{half}_groups"],
            {"generator": embed(samples)},
            repeats=3,
            seed=0,
            train_groups=data["train_groups"],
            against_train=False,  # the figures read the held-out side only
        )
        for view, embed in data["views"].items()
    }
    best = strongest_two_sample({view: r["generator"] for view, r in rows.items()})
    reference = strongest_two_sample({view: r[REFERENCE] for view, r in rows.items()})
    first = rows[next(iter(rows))]
    return {
        "auroc": best["auroc"],
        "auroc_view": best["view"],
        "auroc_test": best["test"],
        "reference_auroc": reference["auroc"],
        "kid": first["generator"]["kid_val"],
        "reference_kid": first[REFERENCE]["kid_val"],
        "coverage": first["generator"]["coverage"],
        "reference_coverage": first[REFERENCE]["coverage"],
        "recall": first["generator"]["recall"],
        "copies": first["generator"]["memorization_rate"],
    }


def run_generator(task: tuple) -> list[dict]:
    """Train one generator with one seed through every step budget, scoring its samples after each."""
    data_name, cache, project, label, name, row_name, config, budgets, seed, n_samples, device, clock, minutes, teacher = task
    import torch

    from synthaug.generators import generator_class

    torch.set_num_threads(1)
    data = load_class(data_name, cache, project, label)
    train, labels, n_classes, sampled = data["train"], np.zeros(len(data["train"]), dtype=np.int64), 1, 0
    config = {**config, "max_minutes": None}
    if teacher:
        # The whole training split teaches one conditional model, sampled for the class under test.
        train, labels, sampled = data["teacher_x"], data["teacher_y"].astype(np.int64), int(data["teacher_label"])
        n_classes, config = int(labels.max()) + 1, {**config, "class_conditional": True, "teacher_classes": "all"}
    generator = generator_class(name)(config, input_shape=tuple(train.shape[1:]), n_classes=n_classes, seed=seed, device=device)
    # CPU time of this process with one thread, or wall-clock time (on a GPU, where CPU time says little).
    now = time.process_time if clock == "cpu" else time.perf_counter
    rows, spent, wall = [], 0.0, 0.0
    # A budget counts every step: with a fine-tune after the teacher, the teacher gets the budget less it.
    fine_tune = int(config.get("fine_tune_steps", 0))
    for steps in budgets:
        generator.update_settings(steps=int(steps) - fine_tune)  # the training continues: fit to 250, then to 500, ...
        if minutes is not None:
            # --minutes caps the whole training: each budget gets what the earlier ones left.
            generator.update_settings(max_minutes=max(float(minutes) - wall / 60.0, 1e-3))
        started, wall_started = now(), time.perf_counter()
        generator.fit(train, labels, progress=False, fine_tune_labels=[sampled])
        spent += now() - started
        wall += time.perf_counter() - wall_started
        # Every average the training keeps (ema_candidates) is scored at every budget, each under its own row
        # name: what the snapshot choice of the averaging length would have to choose from.
        decays = generator.ema_decays()
        for decay in decays or [None]:
            if decay is not None:
                generator.adopt_ema(decay)
            started = now()
            samples = generator.sample(n_samples, sampled, seed=1000 + seed)
            sampling = now() - started
            name_of_row = row_name if decay is None or decay == decays[0] else f"{row_name}/ema-{decay}"
            row = {
                "generator": name_of_row,
                "seed": seed,
                "budget": int(steps),
                "steps": generator.steps_done,
                "clock": clock,
                "seconds_per_step": spent / max(generator.steps_done, 1),
                "seconds_per_sample": sampling / n_samples,
                **{half: score(data, samples, half) for half in HALVES},
            }
            rows.append(row)
            print(
                f"{name_of_row:>8} seed {seed} {row['steps']:>5} steps ({row['seconds_per_step']:.3f} s/step, "
                f"{row['seconds_per_sample'] * 1000:.1f} ms/sample): AUROC selection {row['selection']['auroc']:.3f}, "
                f"reporting {row['reporting']['auroc']:.3f} (real {row['reporting']['reference_auroc']:.2f}), "
                f"KID {row['reporting']['kid']:.3g}, coverage {row['reporting']['coverage']:.2f}",
                flush=True,
            )
        if decays:
            generator.adopt_ema(decays[0])  # training continues with the configured average first, as before
        if generator.stop_reason is not None:
            break  # --minutes ran out: this was the last point
    return rows


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """--set KEY=VALUE (repeatable) and --variant NAME: a recipe change measured under its own row name."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe key of the chosen generators (YAML value, e.g. --set latent_density=mixture); needs --variant",
    )
    parser.add_argument("--variant", help="name of the recipe change made with --set: its rows are GENERATOR+VARIANT")


def recipe_override(item: str) -> tuple[str, object]:
    """'KEY=VALUE' -> (KEY, VALUE parsed as YAML)."""
    import yaml

    key, sep, value = item.partition("=")
    if not sep or not key:
        sys.exit(f"--set {item!r}: expected KEY=VALUE, e.g. --set latent_density=mixture")
    return key.strip(), yaml.safe_load(value)


def train_all(args: argparse.Namespace, budgets: list[int], seeds: list[int]) -> dict:
    models = generator_params(args.profile).train_generator.models
    names = args.generators.split(",") if args.generators else list(models)
    overrides = dict(recipe_override(item) for item in args.set)
    if args.teacher:
        overrides |= {"class_conditional": True, "teacher_classes": "all"}
    recipes = {name: {**models[name], **overrides} for name in names}
    labels = {name: f"{name}+{args.variant}" if args.variant else name for name in names}
    cache = args.features or Path(tempfile.mkdtemp()) / "features.npz"
    if args.data != "demo" and not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        featurize_cough(cache, args.profile, args.label)
    if args.featurize_only:
        sys.exit(0 if args.data != "demo" else "--featurize-only needs --data covid19-cough")
    tasks = [
        (
            args.data,
            cache,
            args.project,
            args.label,
            name,
            labels[name],
            recipes[name],
            budgets,
            seed,
            args.samples,
            args.device,
            args.clock,
            args.minutes,
            args.teacher,
        )
        for name in names
        for seed in seeds
    ]
    started = time.perf_counter()
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            rows = [row for result in pool.map(run_generator, tasks, chunksize=1) for row in result]
    else:
        rows = [row for task in tasks for row in run_generator(task)]
    data = load_class(args.data, cache, args.project, args.label)
    return {
        "data": data["name"],
        "n_train": len(data["train"]),
        **{f"n_{half}": len(data[half]) for half in HALVES},
        **{f"groups_{half}": len(np.unique(data[f"{half}_groups"])) for half in HALVES},
        "shape": list(data["train"].shape[1:]),
        "steps": budgets,
        "seeds": seeds,
        "samples": args.samples,
        "profile": args.profile or "params.yaml",
        "device": args.device,
        "clock": args.clock,
        "minutes_per_training": args.minutes,
        "wall_minutes": (time.perf_counter() - started) / 60.0,
        "configs": {labels[n]: recipes[n] for n in names},
        "rows": rows,
    }


def summary(result: dict) -> dict[str, dict[int, dict]]:
    """{generator: {steps: mean and sd over seeds of each figure, per half}}."""
    out: dict[str, dict[int, dict]] = {}
    for row in result["rows"]:
        # By the budget aimed at (results before --minutes existed always reached it).
        out.setdefault(row["generator"], {}).setdefault(row.get("budget", row["steps"]), []).append(row)  # type: ignore[arg-type]
    table: dict[str, dict[int, dict]] = {}
    for name, by_steps in out.items():
        table[name] = {}
        for steps, rows in sorted(by_steps.items()):
            entry = {"seeds": len(rows), "steps_reached": float(np.mean([r["steps"] for r in rows]))}
            for key in ("seconds_per_step", "seconds_per_sample"):
                entry[key] = float(np.median([r[key] for r in rows]))
            for half in HALVES:
                for key in ("auroc", "kid", "coverage", "reference_auroc"):
                    values = np.array([r[half][key] for r in rows], dtype=float)
                    entry[f"{half}_{key}"] = float(np.nanmean(values))
                    entry[f"{half}_{key}_sd"] = float(np.nanstd(values, ddof=1)) if len(values) > 1 else math.nan
            table[name][steps] = entry
    return table


def chosen_budgets(table: dict[str, dict[int, dict]]) -> dict[str, int]:
    """Each generator's budget with the lowest mean selection-half AUROC (the fewest steps on ties)."""
    return {name: min(by_steps, key=lambda s: (round(by_steps[s]["selection_auroc"], 3), s)) for name, by_steps in table.items()}


def reference_aurocs(result: dict) -> dict[str, str]:
    """Each half's real reference AUROC: the same real data in every run, but the audit's out-of-fold
    scores of a few dozen recordings move with float round-off of the embeddings between processes,
    so the median over runs and its range are given."""
    out = {}
    for half in HALVES:
        values = np.array([row[half]["reference_auroc"] for row in result["rows"]], dtype=float)
        low, high = np.nanmin(values), np.nanmax(values)
        out[half] = f"{np.nanmedian(values):.2f}" + (f" ({low:.2f}-{high:.2f})" if high - low >= 0.005 else "")
    return out


def _pm(mean: float, sd: float, spec: str) -> str:
    return f"{mean:{spec}}" if not math.isfinite(sd) else f"{mean:{spec}} ± {sd:{spec}}"


def markdown(result: dict) -> str:
    table, chosen = summary(result), None
    chosen = chosen_budgets(table)
    unit = "CPU s" if result.get("clock", "cpu") == "cpu" else f"s on {result.get('device')}"
    reference = reference_aurocs(result)
    lines = [
        f"**{result['data']}** ({result['n_train']} training spectrograms of shape {result['shape']}; selection half "
        f"{result['n_selection']} recordings of {result['groups_selection']} groups, reporting half {result['n_reporting']} "
        f"of {result['groups_reporting']}; seeds {', '.join(map(str, result['seeds']))}; the real reference row's strongest "
        f"AUROC on the reporting half {reference['reporting']}, on the selection half {reference['selection']})",
        "",
        f"| generator | steps | reporting: strongest AUROC | reporting: KID | reporting: coverage | selection: AUROC | {unit} / step | {unit} / sample |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, by_steps in table.items():
        for steps, e in by_steps.items():
            mark = " (chosen)" if chosen[name] == steps else ""
            if e["steps_reached"] < steps:
                mark += f" (reached {e['steps_reached']:.0f}: --minutes)"
            lines.append(
                f"| {name} | {steps}{mark} | {_pm(e['reporting_auroc'], e['reporting_auroc_sd'], '.3f')} | "
                f"{_pm(e['reporting_kid'], e['reporting_kid_sd'], '.3g')} | {_pm(e['reporting_coverage'], e['reporting_coverage_sd'], '.2f')} | "
                f"{e['selection_auroc']:.3f} | {e['seconds_per_step']:.3f} | {e['seconds_per_sample']:.4f} |"
            )
    return "\n".join(lines)


def plot(results: list[dict], figure: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(5.5 * len(results), 7), squeeze=False)
    for column, result in enumerate(results):
        table = summary(result)
        auroc_axis, kid_axis = axes[0, column], axes[1, column]
        for name, by_steps in table.items():
            steps = list(by_steps)
            auroc = [by_steps[s]["reporting_auroc"] for s in steps]
            auroc_sd = [np.nan_to_num(by_steps[s]["reporting_auroc_sd"]) for s in steps]
            kid = [max(by_steps[s]["reporting_kid"], 1e-3) for s in steps]
            auroc_axis.errorbar(steps, auroc, yerr=auroc_sd, marker="o", capsize=3, label=name)
            kid_axis.plot(steps, kid, marker="o", label=name)
        median_reference = float(np.nanmedian([row["reporting"]["reference_auroc"] for row in result["rows"]]))
        auroc_axis.axhline(median_reference, color="k", linestyle="--", label="real (reporting half)")
        auroc_axis.set(
            title=result["data"], xscale="log", ylim=(0.45, 1.02), ylabel="strongest two-sample AUROC (reporting half)"
        )
        kid_axis.set(xscale="log", yscale="log", xlabel="optimizer steps", ylabel="KID (reporting half, first view)")
        auroc_axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figure, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["demo", "covid19-cough"], default="demo")
    parser.add_argument("--label", choices=["positive", "negative"], default="positive", help="covid19-cough: which class")
    parser.add_argument("--project", type=Path, default=ROOT, help="demo: the pipeline whose outputs to read (default: here)")
    parser.add_argument("--steps", default="250,500,1000,2000", help="comma-separated step budgets (default 250,500,1000,2000)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    parser.add_argument("--generators", help="comma-separated names (default: every generator in params.yaml)")
    add_recipe_arguments(parser)
    parser.add_argument("--jobs", type=int, default=2, help="trainings side by side, one per core (default 2)")
    parser.add_argument("--samples", type=int, default=200, help="spectrograms drawn per budget (default 200)")
    parser.add_argument("--profile", help="apply profiles/PROFILE.yaml to params.yaml's recipes first (e.g. paper-medical)")
    parser.add_argument("--device", default="cpu", help="torch device for training (default cpu; cuda on a GPU)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="cost columns in CPU (default) or wall seconds")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for results/*.json and the figure (default benchmarks/)")
    parser.add_argument("--plot", action="store_true", help="only redraw the figure and tables from saved results")
    parser.add_argument(
        "--minutes",
        type=float,
        help="wall-clock cap on each training over all its budgets (default none; the GPU check's sizing)",
    )
    parser.add_argument(
        "--features",
        type=Path,
        help="covid19-cough: the featurized class, read when the file exists, else featurized from ../shared and written "
        "there (so a machine without the data set can run the benchmark)",
    )
    parser.add_argument("--featurize-only", action="store_true", help="covid19-cough: write --features and stop")
    parser.add_argument(
        "--teacher",
        action="store_true",
        help="demo: one conditional model learns every training class and is sampled for the class under test "
        "(teacher_classes: all); needs --variant",
    )
    args = parser.parse_args()
    if bool(args.set) != bool(args.variant) and not (args.teacher and args.variant):
        parser.error("--set and --variant go together: a changed recipe is reported under its own name")
    if args.teacher and (args.data != "demo" or not args.variant):
        parser.error("--teacher needs --data demo (the cough cache holds one class) and a --variant name")

    results = args.out / "results"
    results.mkdir(parents=True, exist_ok=True)
    if not args.plot:
        budgets = sorted(int(b) for b in args.steps.split(","))
        seeds = [int(s) for s in args.seeds.split(",")]
        fine_tune = dict(recipe_override(item) for item in args.set).get("fine_tune_steps", 0)
        if fine_tune and (not args.teacher or len(budgets) != 1 or budgets[0] <= int(fine_tune)):
            # A fine-tune ends a training: continued to a larger budget, the teacher would resume after it.
            parser.error("--set fine_tune_steps=N needs --teacher and one --steps budget above N (the teacher gets the rest)")
        result = train_all(args, budgets, seeds)
        key = args.data if args.data == "demo" else f"{args.data}-{args.label}"
        path = results / f"generator_fidelity_{key}.json"
        if (args.generators or args.variant) and path.is_file():
            # A run of some generators (or recipe variants) replaces their rows and keeps the others'.
            saved_result = json.loads(path.read_text())
            generators = set(result["configs"])
            kept = [row for row in saved_result["rows"] if row["generator"].split("/")[0] not in generators]
            result["rows"] = kept + result["rows"]
            result["configs"] = {**saved_result["configs"], **result["configs"]}
        path.write_text(json.dumps(result, indent=1) + "\n")
    saved = []
    for path in sorted(results.glob("generator_fidelity_*.json")):
        result = json.loads(path.read_text())
        if path.stem.endswith("_three_views"):  # the demo class's reruns in all three audit views
            result["data"] = f"{result['data']} (three views)"
        saved.append(result)
    saved = [result for result in saved if "steps" in result]  # results of this design (step budgets, halves)
    if saved:
        plot(saved, args.out / "generator_fidelity.png")
        for result in saved:
            print("\n" + markdown(result))


if __name__ == "__main__":
    main()
