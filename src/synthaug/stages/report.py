"""report: every classifier's predictions -> reports/results.md, figures, statistics and an MLflow summary run.

Reads params `dataset`, `train_generator.models` (the methods, in order), `train_classifier.seeds`,
`ensemble`, `scarcity` and `report`; reads FEATURES/val.npz (class names), the run folders under
CLASSIFIERS/<method>/seed<S>/, ENSEMBLE/{equal,fitted}/seed<S>/ and, when the scarcity sweep is on,
SCARCITY/n<N>-t<T>/<variant>/. Writes OUT_DIR/results.md (header with profile, data and seeds; the
method table with mean ± std and differences to the baseline with bootstrap CIs and p-values;
per-class results; the scarcity table), OUT_DIR/results.json (every number), OUT_DIR/figures/*.png,
the key numbers to METRICS (for `dvc metrics show` and `dvc exp show`) and PLOTS/*.csv (for
`dvc plots`). Logs one MLflow summary run holding the same files, linked to every run it summarizes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from synthaug import tracking
from synthaug.classifier_runs import completed
from synthaug.config import Params, load_params, read_yaml
from synthaug.evaluation.figures import method_bars, scarcity_curves
from synthaug.evaluation.report import (
    MethodScores, compare_methods, difference, markdown_methods, markdown_per_class, markdown_table, mean_std,
)
from synthaug.io import atomic_directory, write_json_atomic, write_text_atomic
from synthaug.profiles import differences_from_profile
from synthaug.spectrograms import load_spectrogram_set

ENSEMBLE_METHODS = {"equal": "ensemble", "fitted": "ensemble_fitted"}
SCARCITY_VARIANTS = ("baseline", "baseline_classic", "gan", "gan_classic")
PUBLISHED_MEDICAL = {  # the medical study on Coswara (test macro F1, AUROC); DESIGN.md §1
    "baseline": (0.645, 0.745), "vae": (0.646, 0.748), "wgan_gp": (0.609, 0.726), "ddpm": (0.644, 0.746), "ensemble": (0.664, 0.761),
}
PAPER_PROFILES = {"medical": "paper-medical", "industrial": "paper-industrial"}


def method_runs(params: Params, classifiers_dir: Path, ensemble_dir: Path) -> dict[str, list[Path]]:
    """{method: run folder per seed} for the baseline, each generator's classifiers and the ensembles present."""
    seeds = params.train_classifier.seeds
    candidates = {"baseline": classifiers_dir / "baseline"}
    candidates.update({name: classifiers_dir / name for name in params.train_generator.models})
    candidates.update({method: ensemble_dir / variant for variant, method in ENSEMBLE_METHODS.items()})
    return {method: [folder / f"seed{s}" for s in seeds] for method, folder in candidates.items() if folder.is_dir()}


def scarcity_runs(params: Params, scarcity_dir: Path) -> dict[int, dict[str, list[Path]]]:
    settings = params.scarcity
    return {n: {v: [scarcity_dir / f"n{n}-t{t}" / v for t in settings.trials] for v in SCARCITY_VARIANTS}
            for n in settings.files_per_class}


def linked_runs(folders: list[Path]) -> list[str]:
    run_ids = [(completed(folder) or {}).get("mlflow_run_id", "") for folder in folders]
    return sorted({run_id for run_id in run_ids if run_id})


def main(params_path: Path, features_dir: Path, classifiers_dir: Path, ensemble_dir: Path, scarcity_dir: Path,
         out_dir: Path, metrics_path: Path, plots_dir: Path, project_root: Path = Path(".")) -> None:
    params = load_params(params_path)
    dataset, settings = params.dataset, params.report
    class_names = load_spectrogram_set(features_dir / "val.npz").class_names
    statistics = {"n_resamples": settings.n_resamples, "confidence": settings.confidence, "seed": settings.seed}

    runs = method_runs(params, classifiers_dir, ensemble_dir)
    methods = compare_methods(runs, class_names, **statistics)
    scarcity = {n: compare_methods(point, class_names, **statistics) for n, point in scarcity_runs(params, scarcity_dir).items()}
    published_profile = PAPER_PROFILES[dataset.protocol]
    shrunk = differences_from_profile(read_yaml(params_path), published_profile, project_root)

    figures = {"methods.png": method_bars(_summary_frame(methods), ["macro_f1", "auroc"],
                                          title=f"{dataset.name}: test scores per method")}
    scarcity_table = _scarcity_frame(scarcity)
    if scarcity:
        for metric in ("accuracy", "macro_f1"):
            figures[f"scarcity_{metric}.png"] = scarcity_curves(scarcity_table, metric, title=f"{dataset.name}: data scarcity")

    markdown = render(params, methods, scarcity, scarcity_table, shrunk, published_profile, len(class_names))
    results = {
        "dataset": dataset.name, "protocol": dataset.protocol, "seeds": params.train_classifier.seeds, "statistics": statistics,
        "differences_from_published": shrunk,
        "methods": {m: dataclasses.asdict(r) for m, r in methods.items()},
        "scarcity": {str(n): {v: dataclasses.asdict(r) for v, r in point.items()} for n, point in scarcity.items()},
    }
    with atomic_directory(out_dir) as tmp:
        (tmp / "figures").mkdir()
        for name, figure in figures.items():
            figure.savefig(tmp / "figures" / name, dpi=90)
        write_text_atomic(tmp / "results.md", markdown)
        write_json_atomic(tmp / "results.json", results)
    write_json_atomic(metrics_path, _key_metrics(methods, scarcity))
    write_text_atomic(plots_dir / "methods.csv", _summary_frame(methods).reset_index().to_csv(index=False))
    if scarcity:
        wide = scarcity_table.pivot(index="files_per_class", columns="variant", values="accuracy_mean").reset_index()
        write_text_atomic(plots_dir / "scarcity_accuracy.csv", wide.to_csv(index=False))

    folders = [f for dirs in runs.values() for f in dirs] + [f for point in scarcity_runs(params, scarcity_dir).values() for dirs in point.values() for f in dirs]
    summarized = linked_runs(folders)
    _log_summary_run(params, project_root, out_dir, methods, summarized)
    print(f"report: {len(methods)} methods{f', {len(scarcity)} scarcity levels' if scarcity else ''}, "
          f"{len(summarized)} runs summarized -> {out_dir / 'results.md'}")


def render(params: Params, methods: dict[str, MethodScores], scarcity: dict[int, dict[str, MethodScores]],
           scarcity_table: pd.DataFrame, shrunk: list[dict], published_profile: str, n_classes: int) -> str:
    dataset, report = params.dataset, params.report
    seeds = params.train_classifier.seeds
    lines = [
        f"# Results: {dataset.name} ({dataset.protocol} protocol)",
        "",
        f"- **Data:** `{dataset.name}` (adapter `{dataset.adapter}`, `{dataset.root}`), {n_classes} classes; every score is "
        "file-level on the real test split, which no generator and no classifier saw in training.",
        f"- **Seeds:** {len(seeds)} per method ({', '.join(map(str, seeds))}); tables give mean ± sample std over seeds.",
        f"- **Statistics:** differences to the baseline are paired (same test files, seeds paired); {report.confidence:.0%} "
        f"bootstrap intervals from {report.n_resamples} resamples of test files (stratified by class) and seeds; "
        "p-values from a paired permutation test. The validation split only picks early stopping and the decision "
        "threshold of the \"val. threshold\" column.",
    ]
    if shrunk:
        lines += ["", f"**Profile:** differs from the published protocol (`profiles/{published_profile}.yaml`) in "
                  f"{len(shrunk)} setting(s), so these numbers are not the published experiment:", "",
                  markdown_table(["Setting", "Here", "Published"], [[f"`{d['key']}`", f"`{d['here']}`", f"`{d['published']}`"] for d in shrunk])]
    else:
        lines += ["", f"**Profile:** the published protocol's settings (`profiles/{published_profile}.yaml`)."]
    lines += ["", "## Methods", "", markdown_methods(methods), "", "![macro F1 and AUROC per method](figures/methods.png)"]
    if dataset.protocol == "medical":
        lines += ["", "The medical study's published test scores on Coswara, for orientation (other data, one run each):", "",
                  markdown_table(["Method", "Macro F1", "AUROC"], [[m, f"{f1:.3f}", f"{auc:.3f}"] for m, (f1, auc) in PUBLISHED_MEDICAL.items()])]
    lines += ["", "## Per-class results (test, argmax decision)", "", markdown_per_class(methods)]
    if scarcity:
        variants = list(SCARCITY_VARIANTS)
        rows = []
        for n, point in scarcity.items():
            rows.append([str(n), *(mean_std(point[v].summary["accuracy"]) for v in variants)])
        lines += ["", "## Data scarcity", "",
                  f"Test accuracy (file level, mean ± std over {len(params.scarcity.trials)} trials) against real training files "
                  "per class; each trial trains its own conditional GAN on exactly that subset.", "",
                  markdown_table(["Files per class", *variants], rows), "",
                  "![accuracy against files per class](figures/scarcity_accuracy.png)", "",
                  "![macro F1 against files per class](figures/scarcity_macro_f1.png)", "",
                  "Differences to the baseline at each level (accuracy, macro F1):", ""]
        rows = []
        for n, point in scarcity.items():
            for v in variants[1:]:
                versus = point[v].versus_baseline
                rows.append([str(n), v, difference(versus.get("accuracy")), difference(versus.get("macro_f1"))])
        lines.append(markdown_table(["Files per class", "Variant", "Δ accuracy [CI], p", "Δ macro F1 [CI], p"], rows))
    return "\n".join(lines) + "\n"


def _summary_frame(methods: dict[str, MethodScores]) -> pd.DataFrame:
    rows = {m: {f"{score}_{k}": r.summary[score][k] for score in r.summary for k in ("mean", "std")} for m, r in methods.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


def _scarcity_frame(scarcity: dict[int, dict[str, MethodScores]]) -> pd.DataFrame:
    rows = [{"files_per_class": n, "variant": v, **{f"{s}_{k}": r.summary[s][k] for s in ("accuracy", "macro_f1") for k in ("mean", "std")}}
            for n, point in scarcity.items() for v, r in point.items()]
    return pd.DataFrame(rows)


def _key_metrics(methods: dict[str, MethodScores], scarcity: dict[int, dict[str, MethodScores]]) -> dict:
    """The numbers `dvc exp show` lines up side by side: means, and differences to the baseline."""
    metrics: dict = {"methods": {}}
    for method, r in methods.items():
        entry = {score: r.summary[score]["mean"] for score in r.summary}
        entry.update({f"delta_{score}": v["difference"] for score, v in r.versus_baseline.items()})
        metrics["methods"][method] = entry
    if scarcity:
        metrics["scarcity_accuracy"] = {f"n{n}": {v: r.summary["accuracy"]["mean"] for v, r in point.items()} for n, point in scarcity.items()}
    return metrics


def _log_summary_run(params: Params, project_root: Path, out_dir: Path, methods: dict[str, MethodScores], summarized: list[str]) -> None:
    import mlflow

    dataset = params.dataset
    with tracking.stage_run(
        project_root=project_root, dataset_name=dataset.name, stage="report", protocol=dataset.protocol,
        params={"seeds": ",".join(map(str, params.train_classifier.seeds)), **params.report.model_dump(),
                "methods": ",".join(methods)},
        run_name="report", tags={"synthaug.method": "summary", "synthaug.summarized_runs": str(len(summarized))},
    ) as run:
        for method, r in methods.items():
            mlflow.log_metrics({f"{method}.{score}_mean": v["mean"] for score, v in r.summary.items() if v["mean"] == v["mean"]})
        tracking.log_file(out_dir / "results.md")
        tracking.log_file(out_dir / "results.json")
        for figure in sorted((out_dir / "figures").glob("*.png")):
            tracking.log_file(figure, "figures")
        tracking.log_json({"summarized_run_ids": summarized}, "summarized_runs.json")
        experiment_id = run.info.experiment_id
        links = "\n".join(f"- [{run_id}](#/experiments/{experiment_id}/runs/{run_id})" for run_id in summarized)
        mlflow.set_tag("mlflow.note.content", (out_dir / "results.md").read_text() + "\n## Runs summarized\n\n" + links + "\n")
        client = mlflow.MlflowClient()
        for run_id in summarized:
            client.set_tag(run_id, "synthaug.summary_run_id", run.info.run_id)
