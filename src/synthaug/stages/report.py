"""report: every classifier's predictions -> reports/results.md, figures, statistics and an MLflow summary run.

Reads params `dataset`, `train_generator.models` (the methods, in order), `train_classifier.seeds`,
`ensemble`, `scarcity`, `audit` and `report`; reads FEATURES/val.npz (class names), the run folders
under CLASSIFIERS/<method>/seed<S>/, ENSEMBLE/{equal,fitted}/seed<S>/, AUDIT/<generator>/ and, when
the scarcity sweep is on, SCARCITY/n<N>-t<T>/<variant>/. Writes OUT_DIR/results.md (header with profile, data and seeds; the
method table with mean ± std and differences to the baseline with bootstrap CIs and p-values;
per-class results; each generator's audit beside its classifier gain; the scarcity table), OUT_DIR/results.json (every number), OUT_DIR/figures/*.png,
the key numbers to METRICS (for `dvc metrics show` and `dvc exp show`) and PLOTS/*.csv (for
`dvc plots`). Logs one MLflow summary run holding the same files, linked to every run it summarizes.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import pandas as pd

from synthaug import tracking
from synthaug.classifier_runs import completed
from synthaug.config import Params, load_params, read_yaml
from synthaug.evaluation.figures import audit_bars, method_bars, scarcity_curves
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


def audit_results(params: Params, audit_dir: Path) -> dict[str, dict]:
    """{generator: audit.json content} for the generators the audit stage covered."""
    import json

    return {name: json.loads((audit_dir / name / "audit.json").read_text())
            for name in params.train_generator.models if (audit_dir / name / "audit.json").is_file()}


def linked_runs(folders: list[Path]) -> list[str]:
    run_ids = [(completed(folder) or {}).get("mlflow_run_id", "") for folder in folders]
    return sorted({run_id for run_id in run_ids if run_id})


def main(params_path: Path, features_dir: Path, classifiers_dir: Path, ensemble_dir: Path, scarcity_dir: Path, audit_dir: Path,
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
    audits = audit_results(params, audit_dir)
    if audits:
        figures["audit.png"] = audit_bars(_audit_frame(audits), title=f"{dataset.name}: synthetic data audit (classifier view)")
    scarcity_table = _scarcity_frame(scarcity)
    if scarcity:
        for metric in ("accuracy", "macro_f1"):
            figures[f"scarcity_{metric}.png"] = scarcity_curves(scarcity_table, metric, title=f"{dataset.name}: data scarcity")

    markdown = render(params, methods, scarcity, scarcity_table, shrunk, published_profile, len(class_names), audits)
    results = {
        "dataset": dataset.name, "protocol": dataset.protocol, "seeds": params.train_classifier.seeds, "statistics": statistics,
        "differences_from_published": shrunk, "audit": audits,
        "methods": {m: dataclasses.asdict(r) for m, r in methods.items()},
        "scarcity": {str(n): {v: dataclasses.asdict(r) for v, r in point.items()} for n, point in scarcity.items()},
    }
    with atomic_directory(out_dir) as tmp:
        (tmp / "figures").mkdir()
        for name, figure in figures.items():
            figure.savefig(tmp / "figures" / name, dpi=90)
        for name in audits:
            shutil.copy(audit_dir / name / "nearest_neighbours.png", tmp / "figures" / f"nearest_neighbours_{name}.png")
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
           scarcity_table: pd.DataFrame, shrunk: list[dict], published_profile: str, n_classes: int, audits: dict[str, dict]) -> str:
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
    if audits:
        lines += render_audit(audits, methods, params.audit)
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


AUDIT_COLUMNS = ("precision", "recall", "density", "coverage", "memorization_rate", "two_sample_auroc")


def render_audit(audits: dict[str, dict], methods: dict[str, MethodScores], settings) -> list[str]:
    """The audit section: each generator's fidelity, diversity and memorization beside its classifier gain."""
    def rows(view: str, with_gain: bool) -> list[list[str]]:
        out = []
        for name, result in audits.items():
            for cls, by_view in result["classes"].items():
                a = by_view[view]
                gain = difference(methods[name].versus_baseline.get("macro_f1")) if name in methods else "n/a"
                out.append([name, cls, f"{_number(a['frechet'], '.3g')} ({_number(a['frechet_reference'], '.3g')})",
                            _number(a["n_frechet"], "d"), *(_number(a[k], ".2f") for k in AUDIT_COLUMNS),
                            *([gain] if with_gain else [])])
        return out

    header = ["Generator", "Class", "Fréchet (real vs real)", "n", "Precision", "Recall", "Density", "Coverage",
              "Memorized", "Two-sample AUROC"]
    lines = ["", "## Synthetic data audit", "",
             "Each synthetic set against the real training data of its class (the classifier's embedding: the "
             "penultimate layer of the first seed's baseline). Fréchet distance on n samples per side, beside the "
             "distance between two disjoint halves of the real data; precision and density: how much of the "
             f"synthetic data lies on the real manifold (k = {settings.k}); recall and coverage: how much of the real "
             "data the synthetic data covers; memorized: share of synthetic samples closer to a training sample "
             f"than the closest {settings.memorization_quantile:.0%} of real test samples are; two-sample AUROC: a "
             "logistic regression telling real from synthetic (0.5 = indistinguishable). The last column is the "
             "generator's classifier gain from the methods table.", "",
             markdown_table([*header, "Δ Macro F1 vs baseline [CI], p"], rows("classifier", True)), "",
             "![audit per generator](figures/audit.png)", "",
             "The same in the second view, a fixed random projection of the log-mel spectrogram:", "",
             markdown_table(header, rows("log_mel", False)), ""]
    for name in audits:
        lines += [f"![{name}: most copy-like samples](figures/nearest_neighbours_{name}.png)", ""]
    return lines[:-1]


def _number(value, spec: str) -> str:
    """A metric for a table; 'n/a' where it could not be computed (null in JSON, NaN), e.g. for tiny classes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def _audit_frame(audits: dict[str, dict]) -> pd.DataFrame:
    """One row per generator (its first class, the minority class in the medical protocol), classifier view."""
    rows = {}
    for name, result in audits.items():
        first = next(iter(result["classes"].values()))["classifier"]
        rows[name] = {k: math.nan if first[k] is None else first[k] for k in AUDIT_COLUMNS}
    return pd.DataFrame.from_dict(rows, orient="index")


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


NOTE_LIMIT = 8000  # MLflow truncates longer tag values


def summary_note(dataset_name: str, methods: dict[str, MethodScores], summarized: list[str], experiment_id: str) -> str:
    """The summary run's description: the methods table and a link to every run it summarizes."""
    head = (f"# Results: {dataset_name}\n\n{markdown_methods(methods)}\n\nThe full report is the artifact results.md; "
            "summarized_runs.json lists every run id.\n\n## Runs summarized\n\n")
    links, length = [], len(head)
    for run_id in summarized:
        link = f"- [{run_id}](#/experiments/{experiment_id}/runs/{run_id})\n"
        if length + len(link) > NOTE_LIMIT - 100:
            links.append(f"- … and {len(summarized) - len(links)} more in summarized_runs.json\n")
            break
        links.append(link)
        length += len(link)
    return head + "".join(links)


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
        mlflow.set_tag("mlflow.note.content", summary_note(dataset.name, methods, summarized, experiment_id))
        client = mlflow.MlflowClient()
        for run_id in summarized:
            client.set_tag(run_id, "synthaug.summary_run_id", run.info.run_id)
