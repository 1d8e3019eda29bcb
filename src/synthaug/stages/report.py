"""report: every classifier's predictions -> reports/results.md, figures, statistics and an MLflow summary run.

Reads params `dataset`, `train_generator.models` (the methods, in order), `train_generator.classes`
and `minority_tolerance` (which classes the generators learn), `train_classifier.seeds`,
`ensemble`, `scarcity`, `audit` and `report`, and the whole params file to compare it with the
published protocol (synthaug.protocols); reads FEATURES/val.npz (class names), FEATURES/train.npz
(its labels: the classes the generators learn), MANIFEST (the
group of each test file: the unit the statistics resample), the run folders
under CLASSIFIERS/<method>/seed<S>/, ENSEMBLE/{equal,fitted}/seed<S>/, AUDIT/<generator>/ and, when
the scarcity sweep is on, SCARCITY/n<N>-t<T>/<variant>/. Writes OUT_DIR/results.md (header with profile, data, seeds and
the smallest difference the test split can resolve; the method table with mean ± std [bootstrap CI] and
differences to the baseline with bootstrap CIs and p-values;
per-class results; each generator's audit beside its classifier gain; the scarcity table), OUT_DIR/results.json (every number), OUT_DIR/figures/*.png,
the key numbers to METRICS (for `dvc metrics show` and `dvc exp show`) and PLOTS/*.csv (for
`dvc plots`). Logs one MLflow summary run holding the same files, linked to every run it summarizes.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from synthaug import protocols, tracking
from synthaug.class_plan import learned_classes
from synthaug.cli_arguments import add_params
from synthaug.config import Params, load_params, read_yaml
from synthaug.datasets.manifest import group_mapping
from synthaug.errors import SynthaugError
from synthaug.evaluation.formatting import method_label
from synthaug.io import atomic_directory, write_json_atomic, write_text_atomic
from synthaug.spectrograms import load_spectrogram_set
from synthaug.sweep_layout import BASELINE, CEILING, CLASSIC

# scikit-learn, scipy and matplotlib (through synthaug.evaluation) are imported in the functions that
# use them, so `synthaug report --help` and a bad parameter answer before they load.
if TYPE_CHECKING:
    from synthaug.evaluation.comparison import MethodScores
    from synthaug.evaluation.minority_sweep import SweepLevel
    from synthaug.evaluation.report import ReportSetup

ENSEMBLE_METHODS = {"equal": "ensemble", "fitted": "ensemble_fitted"}


def method_runs(params: Params, classifiers_dir: Path, ensemble_dir: Path) -> dict[str, list[Path]]:
    """{method: run folder per seed} for the baseline, each generator's classifiers and the ensembles present."""
    seeds = params.train_classifier.seeds
    candidates = {"baseline": classifiers_dir / "baseline", CLASSIC: classifiers_dir / CLASSIC}
    candidates.update({name: classifiers_dir / name for name in params.train_generator.models})
    candidates.update({method: ensemble_dir / variant for variant, method in ENSEMBLE_METHODS.items()})
    return {method: [folder / f"seed{s}" for s in seeds] for method, folder in candidates.items() if folder.is_dir()}


def scarcity_runs(params: Params, scarcity_dir: Path) -> dict[int, dict[str, list[Path]]]:
    """{files per class: {variant: run folder per trial}}; the ceiling where every trial of the level has one."""
    from synthaug.evaluation.scarcity_report import SCARCITY_VARIANTS

    settings = params.scarcity
    runs = {}
    for n in settings.files_per_class:
        points = [scarcity_dir / f"n{n}-t{t}" for t in settings.trials]
        runs[n] = {v: [p / v for p in points] for v in SCARCITY_VARIANTS}
        if all((p / CEILING).is_dir() for p in points):
            runs[n][CEILING] = [p / CEILING for p in points]
    return runs


def audit_results(params: Params, audit_dir: Path) -> dict[str, dict]:
    """{generator: audit.json content} for the generators the audit stage covered."""
    import json

    return {
        name: json.loads((audit_dir / name / "audit.json").read_text())
        for name in params.train_generator.models
        if (audit_dir / name / "audit.json").is_file()
    }


def linked_runs(folders: list[Path]) -> list[str]:
    from synthaug.evaluation.run_folder import completed

    run_ids = [(completed(folder) or {}).get("mlflow_run_id", "") for folder in folders]
    return sorted({run_id for run_id in run_ids if run_id})


def generator_classes(params: Params, features_dir: Path, class_names: list[str]) -> list[str]:
    """The classes the generators learn (synthaug.class_plan), from the training labels; every class
    when the training set is absent (a report of classifiers only)."""
    import numpy as np

    train = features_dir / "train.npz"
    if not params.train_generator.models or not train.is_file():
        return list(class_names)
    if (params.train_generator.models.get("cgan") or {}).get("teacher_classes") == "all":
        return list(class_names)  # every class teaches the conditional GAN (the one model these names label)
    with np.load(train, allow_pickle=False) as data:  # the labels only: x may be large
        y = data["y"]
    try:
        return [
            class_names[c]
            for c in learned_classes(y, class_names, params.train_generator.classes, params.train_generator.minority_tolerance)
        ]
    except SynthaugError:  # no generator could have been trained: name none of them one-class
        return list(class_names)


def report_setup(params: Params) -> ReportSetup:
    """The params sections the report states."""
    from synthaug.evaluation.report import ReportSetup

    return ReportSetup(
        dataset=params.dataset,
        classifier=params.train_classifier,
        generator_classes=params.train_generator.classes,
        report=params.report,
        ensemble=params.ensemble,
        scarcity=params.scarcity,
        audit=params.audit,
    )


@dataclasses.dataclass
class Findings:
    """Every comparison the report lays out, and the run folders behind them."""

    methods: dict[str, MethodScores]  # each method against the baseline
    method_folders: dict[str, list[Path]]
    against_classic: dict[str, MethodScores]  # each generator against classic augmentation
    scarcity: dict[int, dict[str, MethodScores]]  # the industrial sweep, per files per class
    scarcity_shares: dict[int, dict[str, dict[str, dict]]]
    scarcity_folders: dict[int, dict[str, list[Path]]]
    levels: list[SweepLevel]  # the minority sweep, per share of the minority groups
    level_folders: dict[float, dict[str, list[Path]]]
    audits: dict[str, dict]
    learned: list[str]  # the classes the generators learn

    def folders(self) -> list[Path]:
        """Every run folder summarized."""
        groups = [self.method_folders, *self.scarcity_folders.values(), *self.level_folders.values()]
        return [f for group in groups for dirs in group.values() for f in dirs]


@dataclasses.dataclass(frozen=True)
class ReportInputs:
    """The folders and files the report reads (the stage's arguments)."""

    features: Path
    classifiers: Path
    ensemble: Path
    scarcity: Path
    audit: Path
    manifest: Path
    minority_scarcity: Path | None  # None: the medical sweep is not reported


def compare_all(
    params: Params, inputs: ReportInputs, class_names: list[str], primary: list[str], bootstrap: dict[str, Any]
) -> Findings:
    """The report's comparisons; `bootstrap`: n_resamples, confidence and seed of every interval and test."""
    from synthaug.evaluation.comparison import ceiling_shares, compare_methods
    from synthaug.evaluation.minority_sweep import compare_sweep, sweep_runs
    from synthaug.evaluation.scarcity_report import SHARE_SCORE

    groups = group_mapping(inputs.manifest)

    def compare(folders: dict[str, list[Path]], **kwargs: Any) -> dict[str, MethodScores]:
        return compare_methods(folders, class_names, groups=groups, primary=primary, **bootstrap, **kwargs)

    runs = method_runs(params, inputs.classifiers, inputs.ensemble)
    bar = {m: runs[m] for m in [CLASSIC, *params.train_generator.models] if m in runs}
    scarcity_folders = scarcity_runs(params, inputs.scarcity)
    sweep, sweep_dir = params.minority_scarcity, inputs.minority_scarcity
    level_folders = sweep_runs(sweep_dir, sweep.fractions, sweep.trials) if sweep_dir is not None and sweep.fractions else {}
    return Findings(
        methods=compare(runs),
        method_folders=runs,
        against_classic=compare(bar, baseline=CLASSIC) if CLASSIC in bar and len(bar) > 1 else {},
        scarcity={n: compare(point) for n, point in scarcity_folders.items()},
        scarcity_shares={
            n: ceiling_shares(point, class_names, ceiling=CEILING, scores=(SHARE_SCORE,), groups=groups, **bootstrap)
            for n, point in scarcity_folders.items()
        },
        scarcity_folders=scarcity_folders,
        levels=compare_sweep(level_folders, class_names, groups=groups, primary=primary, statistics=bootstrap)
        if level_folders
        else [],
        level_folders=level_folders,
        audits=audit_results(params, inputs.audit),
        learned=generator_classes(params, inputs.features, class_names),
    )


def figures_of(findings: Findings, dataset_name: str, primary: list[str]) -> dict[str, Any]:
    """{file name: matplotlib figure} of the report."""
    from synthaug.evaluation.fidelity import REFERENCE_LABEL
    from synthaug.evaluation.figures import audit_bars, gain_curves, method_bars, scarcity_curves
    from synthaug.evaluation.minority_sweep import arm_label, sweep_frame

    figures = {
        "methods.png": method_bars(
            _summary_frame(findings.methods), [*primary, "balanced_accuracy"], title=f"{dataset_name}: test scores per method"
        )
    }
    if findings.audits:
        figures["audit.png"] = audit_bars(
            _audit_frame(findings.audits),
            reference=REFERENCE_LABEL,
            title=f"{dataset_name}: synthetic data audit against validation data",
        )
    for metric in ("accuracy", "macro_f1") if findings.scarcity else ():
        figures[f"scarcity_{metric}.png"] = scarcity_curves(
            _scarcity_frame(findings.scarcity), metric, title=f"{dataset_name}: data scarcity"
        )
    if findings.levels:
        figures["minority_scarcity_auroc.png"] = gain_curves(
            sweep_frame(findings.levels),
            baseline=arm_label(BASELINE),
            ceiling=arm_label(CEILING),
            metric="AUROC",
            title=f"{dataset_name}: minority scarcity",
        )
    return figures


def results_of(
    params: Params, findings: Findings, primary: list[str], bootstrap: dict[str, Any], published: dict[str, Any]
) -> dict:
    """results.json: every number of the report."""
    from synthaug.evaluation.comparison import detectable_at_80_power, detectable_difference, has_resolution

    methods = findings.methods
    resolved = has_resolution(methods)
    return {
        "dataset": params.dataset.name,
        "protocol": params.dataset.protocol,
        "seeds": params.train_classifier.seeds,
        "statistics": {
            **bootstrap,
            "unit": "test group (manifest `group`), resampled within class",
            "test_groups": methods["baseline"].test_groups,
            "primary_endpoints": primary,
            "detectable_difference": detectable_difference(methods) if resolved else None,
            "detectable_at_80_power": detectable_at_80_power(methods) if resolved else None,
        },
        **published,
        "audit": findings.audits,
        "generator_classes": findings.learned,
        "methods": {m: dataclasses.asdict(r) for m, r in methods.items()},
        "against_classic_augmentation": {m: r.versus_baseline for m, r in findings.against_classic.items() if r.versus_baseline},
        "scarcity": {str(n): {v: dataclasses.asdict(r) for v, r in point.items()} for n, point in findings.scarcity.items()},
        "scarcity_share_of_ceiling": {str(n): shares for n, shares in findings.scarcity_shares.items() if shares},
        "minority_scarcity": {
            f"{level.fraction:g}": {
                "arms": {a: dataclasses.asdict(r) for a, r in level.scores.items()},
                "share_of_ceiling": level.shares,
            }
            for level in findings.levels
        },
    }


def published_comparison(params_path: Path) -> dict[str, Any]:
    """The whole configuration (params after overlays, every default, the code's own choices) against
    the published protocol's table: departures from what the study states, and what it leaves open."""
    raw_params = read_yaml(params_path)
    published = protocols.published_arm(raw_params)
    effective = protocols.effective_configuration(raw_params)
    return {
        "published_protocol": published,
        "differences_from_published": protocols.differences_from_published(effective, published),
        "unstated_in_published": protocols.unstated_choices(effective, published),
    }


def main(
    params_path: Path,
    features_dir: Path,
    classifiers_dir: Path,
    ensemble_dir: Path,
    scarcity_dir: Path,
    audit_dir: Path,
    out_dir: Path,
    metrics_path: Path,
    plots_dir: Path,
    manifest_path: Path,
    project_root: Path = Path("."),
    minority_scarcity_dir: Path | None = None,
) -> None:
    from synthaug.evaluation.comparison import primary_endpoints
    from synthaug.evaluation.minority_sweep import render_sweep
    from synthaug.evaluation.report import render

    params = load_params(params_path)
    settings = params.report
    class_names = load_spectrogram_set(features_dir / "val.npz").class_names
    bootstrap: dict[str, Any] = {"n_resamples": settings.n_resamples, "confidence": settings.confidence, "seed": settings.seed}
    primary = primary_endpoints(settings.primary_endpoints, len(class_names))
    inputs = ReportInputs(
        features_dir, classifiers_dir, ensemble_dir, scarcity_dir, audit_dir, manifest_path, minority_scarcity_dir
    )
    findings = compare_all(params, inputs, class_names, primary, bootstrap)
    published = published_comparison(params_path)
    markdown = render(
        report_setup(params),
        findings.methods,
        findings.scarcity,
        published["differences_from_published"],
        protocols.PROFILES[published["published_protocol"]],
        len(class_names),
        findings.audits,
        published["unstated_in_published"],
        findings.learned,
        against_classic=findings.against_classic,
        scarcity_shares=findings.scarcity_shares,
    )
    if findings.levels:
        markdown += (
            "\n".join(render_sweep(findings.levels, len(params.minority_scarcity.trials), ", ".join(findings.learned))) + "\n"
        )
    with atomic_directory(out_dir) as tmp:
        (tmp / "figures").mkdir()
        for name, figure in figures_of(findings, params.dataset.name, primary).items():
            figure.savefig(tmp / "figures" / name, dpi=90)
        for name in findings.audits:
            if (audit_dir / name / "nearest_neighbours.png").is_file():  # absent when no class could be shown
                shutil.copy(audit_dir / name / "nearest_neighbours.png", tmp / "figures" / f"nearest_neighbours_{name}.png")
        write_text_atomic(tmp / "results.md", markdown)
        write_json_atomic(tmp / "results.json", results_of(params, findings, primary, bootstrap, published))
    write_json_atomic(metrics_path, _key_metrics(findings))
    write_text_atomic(plots_dir / "methods.csv", _summary_frame(findings.methods).reset_index().to_csv(index=False))
    if findings.scarcity:
        table = _scarcity_frame(findings.scarcity)
        wide = table.pivot(index="files_per_class", columns="variant", values="accuracy_mean").reset_index()
        write_text_atomic(plots_dir / "scarcity_accuracy.csv", wide.to_csv(index=False))
    summarized = linked_runs(findings.folders())
    _log_summary_run(params, project_root, out_dir, findings.methods, summarized, len(findings.learned))
    levels = f", {len(findings.scarcity)} scarcity levels" if findings.scarcity else ""
    print(f"report: {len(findings.methods)} methods{levels}, {len(summarized)} runs summarized -> {out_dir / 'results.md'}")


def _audit_frame(audits: dict[str, dict]) -> pd.DataFrame:
    """Long table for the audit figure: one row per view x class x set, the reference row included."""
    from synthaug.evaluation.audit_report import audit_rows
    from synthaug.evaluation.fidelity import REFERENCE, REFERENCE_LABEL
    from synthaug.evaluation.figures import AUDIT_BAR_SCORES

    rows = []
    for cls, sets in audit_rows(audits).items():
        for name, by_view in sets.items():
            for view, row in by_view.items():
                rows.append(
                    {
                        "view": view,
                        "class": cls,
                        "set": REFERENCE_LABEL if name == REFERENCE else name,
                        **{k: math.nan if row.get(k) is None else row[k] for k in AUDIT_BAR_SCORES},
                    }
                )
    return pd.DataFrame(rows)


def _summary_frame(methods: dict[str, MethodScores]) -> pd.DataFrame:
    rows = {m: {f"{score}_{k}": r.summary[score][k] for score in r.summary for k in ("mean", "std")} for m, r in methods.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


def _scarcity_frame(scarcity: dict[int, dict[str, MethodScores]]) -> pd.DataFrame:
    rows = [
        {
            "files_per_class": n,
            "variant": v,
            **{f"{s}_{k}": r.summary[s][k] for s in ("accuracy", "macro_f1") for k in ("mean", "std")},
        }
        for n, point in scarcity.items()
        for v, r in point.items()
    ]
    return pd.DataFrame(rows)


def _key_metrics(findings: Findings) -> dict:
    """The numbers `dvc exp show` lines up side by side: means, and differences to the baseline."""
    from synthaug.evaluation.comparison import detectable_difference, has_resolution
    from synthaug.evaluation.minority_sweep import key_metrics as sweep_metrics

    methods, scarcity = findings.methods, findings.scarcity
    metrics: dict = {"methods": {}, "detectable_difference": detectable_difference(methods) if has_resolution(methods) else {}}
    for method, r in methods.items():
        entry = {score: r.summary[score]["mean"] for score in r.summary}
        entry.update({f"delta_{score}": v["difference"] for score, v in r.versus_baseline.items()})
        metrics["methods"][method] = entry
    if scarcity:
        metrics["scarcity_accuracy"] = {
            f"n{n}": {v: r.summary["accuracy"]["mean"] for v, r in point.items()} for n, point in scarcity.items()
        }
    if findings.levels:
        metrics["minority_scarcity"] = sweep_metrics(findings.levels)
    return metrics


def _log_summary_run(
    params: Params, project_root: Path, out_dir: Path, methods: dict[str, MethodScores], summarized: list[str], n_learned: int
) -> None:
    import mlflow

    from synthaug.evaluation.report import summary_note

    dataset = params.dataset
    with tracking.stage_run(
        project_root=project_root,
        dataset_name=dataset.name,
        stage="report",
        protocol=dataset.protocol,
        params={
            "seeds": ",".join(map(str, params.train_classifier.seeds)),
            **params.report.model_dump(),
            "methods": ",".join(methods),
        },
        run_name="report",
        tags={"synthaug.method": "summary", "synthaug.summarized_runs": str(len(summarized))},
    ) as run:
        for method, r in methods.items():
            mlflow.log_metrics({f"{method}.{score}_mean": v["mean"] for score, v in r.summary.items() if v["mean"] == v["mean"]})
        tracking.log_file(out_dir / "results.md")
        tracking.log_file(out_dir / "results.json")
        for figure in sorted((out_dir / "figures").glob("*.png")):
            tracking.log_file(figure, "figures")
        tracking.log_json({"summarized_run_ids": summarized}, "summarized_runs.json")
        experiment_id = run.info.experiment_id
        labels = {m: method_label(m, n_learned) for m in methods}
        mlflow.set_tag("mlflow.note.content", summary_note(dataset.name, methods, summarized, experiment_id, labels))
        client = mlflow.MlflowClient()
        for run_id in summarized:
            client.set_tag(run_id, "synthaug.summary_run_id", run.info.run_id)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug report` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument("features", type=Path, help="folder written by featurize")
    parser.add_argument("classifiers", type=Path, help="folder of trained classifiers, e.g. outputs/classifiers")
    parser.add_argument("ensemble", type=Path, help="folder written by the ensemble stage")
    parser.add_argument("scarcity", type=Path, help="folder of the scarcity sweep's points, e.g. outputs/scarcity")
    parser.add_argument("audit", type=Path, help="folder written by the audit stage, e.g. outputs/audit")
    parser.add_argument("out_dir", type=Path, help="output folder, e.g. reports")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument("--plots", type=Path, required=True, help="folder for the dvc plots CSVs")
    parser.add_argument(
        "--manifest",
        type=Path,
        required=True,
        help="manifest CSV written by prepare, e.g. outputs/prepare/manifest.csv (test file -> group)",
    )
    parser.add_argument(
        "--minority-scarcity",
        type=Path,
        default=None,
        help="folder of the medical scarcity sweep's points, e.g. outputs/minority_scarcity (read when minority_scarcity.fractions is set)",
    )


def run(args: argparse.Namespace) -> None:
    """`synthaug report`: main with the parsed arguments."""
    main(
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
