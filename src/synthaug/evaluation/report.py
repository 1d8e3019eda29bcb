"""The results report in markdown: the header, each endpoint's table, the decision, per class, the
scarcity sweep, the published protocol's departures and (from synthaug.evaluation.audit_report) the
audit.

The numbers come from synthaug.evaluation.comparison (`compare_methods`: scores over seeds, paired
differences with the baseline, Holm families, resolution); the way they are written (mean ± std,
intervals, method names) from synthaug.evaluation.formatting. This module only lays them out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from synthaug.class_plan import Classes, describe_classes
from synthaug.config import AuditParams, DatasetParams, EnsembleParams, ReportParams, ScarcityParams, TrainClassifierParams
from synthaug.evaluation.audit_report import render_audit
from synthaug.evaluation.comparison import (
    MIN_TEST_GROUPS_PER_CLASS,
    RECALL_KEY,
    MethodScores,
    detectable_at_80_power,
    detectable_difference,
    holm_family,
    primary_of,
)
from synthaug.evaluation.endpoints import TITLES
from synthaug.evaluation.formatting import (
    UNCONDITIONAL_CGAN_LABEL,
    difference,
    interval_text,
    markdown_table,
    mean_std,
    mean_std_interval,
    method_label,
    number_text,
    seed_differences_text,
)
from synthaug.evaluation.scarcity_report import render_scarcity
from synthaug.evaluation.verdicts import render_against_classic, verdict_lines


@dataclass(frozen=True)
class ReportSetup:
    """The params sections whose settings the report states (the report stage passes them, never all params)."""

    dataset: DatasetParams
    classifier: TrainClassifierParams
    generator_classes: Classes  # train_generator.classes
    report: ReportParams
    ensemble: EnsembleParams
    scarcity: ScarcityParams
    audit: AuditParams


def resolution_lines(results: Mapping[str, MethodScores]) -> list[str]:
    """The header's statement of what the test split can resolve, and a loud warning when it cannot.

    Where some class has fewer test groups than the bootstrap needs, no resolution figure is printed:
    the intervals are then too unreliable to size anything (with one group per class the bootstrap
    draws the same data every time and a "resolution" would measure the seeds alone).
    """
    reference = next(iter(results.values()))
    counts = reference.test_groups
    per_class = ", ".join(f"{n} {name}" for name, n in counts.items())
    primary = primary_of(results)
    resolution = detectable_difference(results, primary)
    powered = detectable_at_80_power(results, primary)
    lines = []
    scarce = {name: n for name, n in counts.items() if n < MIN_TEST_GROUPS_PER_CLASS}
    if scarce:
        listed = ", ".join(f"{n} of class `{name}`" for name, n in scarce.items())
        return [
            f"- **Resolution:** not estimated: {reference.n_test_groups} test groups ({per_class}).",
            "",
            f"> **Warning: differences between methods cannot be detected on this test split.** It holds only "
            f"{listed} (fewer than {MIN_TEST_GROUPS_PER_CLASS} groups per class): the intervals are wide and "
            "themselves unreliable, so treat every comparison below as inconclusive and evaluate on more "
            "participants before drawing conclusions.",
        ]
    if all(math.isnan(v) for v in resolution.values()):
        lines.append(
            f"- **Resolution:** {reference.n_test_groups} test groups ({per_class}); no method is compared "
            "with the baseline, so no smallest detectable difference is estimated."
        )
    else:

        def amount(values: Mapping[str, float], score: str) -> str:
            return "n/a" if math.isnan(values[score]) else f"±{values[score]:.3f}"

        sizes = "; ".join(f"{TITLES[s]} {amount(resolution, s)} (80 % power: {amount(powered, s)})" for s in primary)
        lines.append(
            f"- **Resolution:** with {reference.n_test_groups} test groups ({per_class}) and {reference.seeds} seeds, "
            f"the 95 % half-width of a paired difference (median over methods) is {sizes}. A true difference of "
            "the half-width is detected only about half the time; the power figure is the difference found "
            "80 % of the time at the 5 % level."
        )
    return lines


def markdown_methods(
    results: Mapping[str, MethodScores], *, versus: Sequence[str] | None = None, labels: Mapping[str, str] | None = None
) -> str:
    """The overview table: each primary endpoint as mean ± std [CI], then its difference to the baseline with CI.

    `versus`: the scores shown (default: the primary endpoints). `labels` names methods in the table
    where their name alone would mislead (see `method_label`).
    """
    labels = labels or {}
    scores = [s for s in (versus or primary_of(results)) if any(s in r.summary for r in results.values())]
    header = [
        "Method",
        "Seeds",
        *(f"{TITLES[s]} [CI]" for s in scores),
        *(f"Δ {TITLES[s]} vs baseline [CI], p, Holm p" for s in scores),
    ]
    rows = [
        [
            labels.get(name, name),
            str(r.seeds),
            *(mean_std_interval(r.summary[s], r.intervals.get(s)) if s in r.summary else "n/a" for s in scores),
            *(difference(r.versus_baseline.get(s)) for s in scores),
        ]
        for name, r in results.items()
    ]
    return markdown_table(header, rows)


def markdown_endpoint(results: Mapping[str, MethodScores], score: str, labels: Mapping[str, str] | None = None) -> str:
    """One endpoint's table: the score, the paired difference to the baseline, its p-values and each seed's difference."""
    labels = labels or {}
    family = next((c.get("family", "") for r in results.values() if (c := r.versus_baseline.get(score))), "")
    header = [
        "Method",
        "Seeds",
        f"{TITLES[score]} [CI]",
        "Δ vs baseline [CI]",
        "p",
        f"Holm p ({family})" if family else "Holm p",
        "Δ per seed",
    ]
    rows = []
    for name, r in results.items():
        versus = r.versus_baseline.get(score)
        rows.append(
            [
                labels.get(name, name),
                str(r.seeds),
                mean_std_interval(r.summary[score], r.intervals.get(score)) if score in r.summary else "n/a",
                interval_text(versus),
                number_text(versus.get("p_value"), ".3g") if versus else "",
                number_text(versus.get("p_holm"), ".3g") if versus else "",
                seed_differences_text(r.seed_differences.get(score)),
            ]
        )
    return markdown_table(header, rows)


def markdown_decision(results: Mapping[str, MethodScores], labels: Mapping[str, str] | None = None) -> str:
    """Where the argmax decision moved: macro F1, balanced accuracy and accuracy at argmax, with differences."""
    labels = labels or {}
    header = [
        "Method",
        "Macro F1 (argmax) [CI]",
        "Balanced accuracy [CI]",
        "Δ balanced accuracy [CI], p, Holm p",
        "Accuracy (argmax, secondary) [CI]",
        "Δ accuracy [CI], p, Holm p",
    ]
    rows = [
        [
            labels.get(name, name),
            *(
                mean_std_interval(r.summary[s], r.intervals.get(s)) if s in r.summary else "n/a"
                for s in ("macro_f1", "balanced_accuracy")
            ),
            difference(r.versus_baseline.get("balanced_accuracy")),
            mean_std_interval(r.summary["accuracy"], r.intervals.get("accuracy")),
            difference(r.versus_baseline.get("accuracy")),
        ]
        for name, r in results.items()
    ]
    return markdown_table(header, rows)


def markdown_per_class(
    results: Mapping[str, MethodScores], labels: Mapping[str, str] | None = None, support: Mapping[str, int] | None = None
) -> str:
    """Per-class precision, recall and F1 in long format: one row per method and class, so the table is
    as wide for ten classes as for two. `support`: test files per class (a column when given)."""
    labels = labels or {}
    class_names = list(next(iter(results.values())).per_class)
    header = [
        "Method",
        "Class",
        "Precision",
        "Recall",
        "Δ recall vs baseline [CI], p",
        "F1",
        *(["Support"] if support is not None else []),
    ]
    rows = [
        [
            labels.get(method, method),
            name,
            *(mean_std(r.per_class[name][k]) for k in ("precision", "recall")),
            _recall_difference(r.versus_baseline.get(f"{RECALL_KEY}{name}")),
            mean_std(r.per_class[name]["f1"]),
            *([str(support.get(name, 0))] if support is not None else []),
        ]
        for method, r in results.items()
        for name in class_names
    ]
    return markdown_table(header, rows)


PUBLISHED_MEDICAL = {  # the medical study on Coswara (test macro F1, AUROC); profiles/paper-medical.yaml reproduces its setup
    "baseline": (0.645, 0.745),
    "vae": (0.646, 0.748),
    "wgan_gp": (0.609, 0.726),
    "ddpm": (0.644, 0.746),
    "ensemble": (0.664, 0.761),
}


def _recall_difference(comparison: Mapping[str, float] | None) -> str:
    if not comparison:
        return ""
    text = interval_text(comparison)
    return text if text == "n/a" else f"{text}, p = {comparison['p_value']:.3g}"


def published_protocol_lines(departures: list[dict], unstated: list[dict], published_profile: str) -> list[str]:
    """The header's comparison of the whole configuration with the published protocol's table of values."""

    def value(v) -> str:
        return f"`{v}`".replace("|", "\\|")

    protocol = f"the published protocol (`profiles/{published_profile}.yaml` reproduces it)"
    if departures:
        lines = [
            "",
            f"**Published protocol:** matches {protocol} except in {len(departures)} setting(s) the study "
            "states, so these numbers are not the published experiment:",
            "",
            markdown_table(
                ["Setting", "Here", "Published", "Stated in", "Note"],
                [[f"`{d['key']}`", value(d["here"]), value(d["published"]), d["source"], d["note"]] for d in departures],
            ),
        ]
    else:
        lines = ["", f"**Published protocol:** matches every setting of {protocol} that the study states."]
    if unstated:
        lines += [
            "",
            f"Settings the study does not state, as this run chose them ({len(unstated)}):",
            "",
            markdown_table(["Setting", "Here", "Note"], [[f"`{d['key']}`", value(d["here"]), d["note"]] for d in unstated]),
        ]
    return lines


def multiple_comparisons_line(methods: Mapping[str, MethodScores], scarcity: Mapping[int, Mapping[str, MethodScores]]) -> str:
    """The header's statement of which families of p-values the Holm–Bonferroni adjustment covers."""
    n_methods, n_comparisons, scores = holm_family(methods, "primary")
    if not n_comparisons:
        return "- **Multiple comparisons:** no p-value to adjust (no method is compared with the baseline)."
    titles = ", ".join(TITLES.get(s, s) for s in scores)
    _, n_secondary, _ = holm_family(methods, "secondary")
    line = (
        f'- **Multiple comparisons:** "Holm" is the Holm–Bonferroni adjusted p-value within a family. The primary '
        f"family is the {n_comparisons} method-vs-baseline comparisons on the primary endpoints ({n_methods} methods × "
        f"{len(scores)}: {titles}); the secondary family the other {n_secondary} (argmax macro F1, balanced accuracy, "
        "argmax accuracy, each class's recall: every score tested counts, also those a table does not show). "
        'It keeps the chance of any false positive in a family at the chosen level; "p" is the raw p-value of '
        "one comparison alone."
    )
    if scarcity:
        n_variants, _, level_scores = holm_family(next(iter(scarcity.values())), "primary")
        line += (
            f" The data-scarcity tables are adjusted within each level and family ({n_variants} variants × "
            f"{len(level_scores)} primary endpoints against that level's baseline; the rest as secondary)."
        )
    return line


def scarcity_budget_line(setup: ReportSetup) -> str:
    """The header's statement of what labelled data each point of the scarcity sweep read besides its subset."""
    if setup.scarcity.early_stopping:
        selection = (
            f"stop early (patience {setup.classifier.patience}) on N validation files per class drawn "
            "from the validation split, the same budget as training, never on the whole split"
        )
    else:
        selection = (
            f"train a fixed {setup.classifier.epochs} epochs and keep the last, reading no validation data, as the "
            "industrial study does (`scarcity.early_stopping: false`)"
        )
    return (
        "- **Data-scarcity budget:** each point uses only its N real training files per class: features are "
        f"z-scored with that subset's own statistics, and its classifiers {selection}."
    )


def primary_endpoints_line(methods: Mapping[str, MethodScores], n_classes: int) -> str:
    """The header's declaration of the primary endpoints (params `report.primary_endpoints`)."""
    primary = primary_of(methods)
    titles = " and ".join(TITLES[s] for s in primary)
    line = (
        f"- **Primary endpoints** (`report.primary_endpoints`): {titles}, shown first. AUROC is free of any threshold; "
        "macro F1 at the validation threshold re-chooses each classifier's decision threshold on validation, so a "
        "threshold moved by the synthetic data does not count as a gain. Argmax accuracy is secondary."
    )
    if n_classes != 2:
        line += " Macro F1 at a validation threshold needs two classes; here the primary macro F1 is the argmax one."
    return line


def method_notes(setup: ReportSetup, methods: Mapping[str, MethodScores], learned_classes: int) -> list[str]:
    """Notes under the methods table on what a method is where its name alone would mislead
    (`learned_classes`: how many classes the generators learn)."""
    notes = []
    if "cgan" in methods and method_label("cgan", learned_classes) != "cgan":
        notes.append(
            f"- **{UNCONDITIONAL_CGAN_LABEL}**: the generators learn one class only "
            f"(`train_generator.classes: {describe_classes(setup.generator_classes)}`), so the "
            "conditional GAN trains on one class: its auxiliary classifier has no other class to tell apart, "
            "and it is an unconditional progressive GAN, not a class-conditional one."
        )
    if "ensemble_fitted" in methods:
        notes.append(
            f"- **ensemble_fitted**: member weights minimize the log loss on one half of the validation "
            f"groups (classes spread evenly, seed `ensemble.validation_split_seed` = "
            f"{setup.ensemble.validation_split_seed}); its validation scores and its val.-threshold column "
            "come from the other half only (where some class has fewer than two validation groups, the "
            "ensemble stage warns and fits and scores on all of validation). Every member's best epoch was chosen on the whole validation "
            "split, so validation scores stay optimistic for every method; the test scores are the honest ones."
        )
    return ["", *notes] if notes else []


def render(
    setup: ReportSetup,
    methods: dict[str, MethodScores],
    scarcity: dict[int, dict[str, MethodScores]],
    shrunk: list[dict],
    published_profile: str,
    n_classes: int,
    audits: dict[str, dict],
    unstated: list[dict] | None = None,
    learned_classes: Sequence[str] | None = None,
    against_classic: Mapping[str, MethodScores] | None = None,
    scarcity_shares: Mapping[int, Mapping[str, Mapping[str, dict]]] | None = None,
) -> str:
    """reports/results.md: header (data, seeds, departures from the published protocol), methods, per class, audit, scarcity.

    `shrunk`: every setting the study states that this run departs from; `unstated`: what the run
    chose where the study is silent; rows {key, here, published, source, note} (synthaug.protocols).
    `learned_classes`: the classes the generators learn (synthaug.class_plan; None: all of them).
    `against_classic`: each generator's classifier compared with classic augmentation's (baseline
    of that comparison), when the classic method ran.
    Every table is at most 8 columns wide whatever the number of classes, seeds or methods: per-class
    results are in long format (one row per method and class).
    """
    seeds = list(setup.classifier.seeds)
    n_learned = n_classes if learned_classes is None else len(learned_classes)
    if len(seeds) == 1:
        seeds_line = (
            f"- **Seeds:** 1 seed, no std (seed {seeds[0]}): each score is one classifier's, and its spread "
            "over seeds is not measured; the intervals below resample test groups only."
        )
    else:
        seeds_line = (
            f"- **Seeds:** {len(seeds)} per method ({', '.join(map(str, seeds))}); tables give mean ± sample std over seeds."
        )
    lines = [
        f"# Results: {setup.dataset.name} ({setup.dataset.protocol} protocol)",
        "",
        f"- **Data:** `{setup.dataset.name}` (adapter `{setup.dataset.adapter}`, `{setup.dataset.root}`), {n_classes} classes; every score is "
        "file-level on the real test split, which no generator and no classifier saw in training.",
        seeds_line,
        f"- **Statistics:** {setup.report.confidence:.0%} bootstrap intervals from {setup.report.n_resamples} resamples of the test "
        "groups (participants, patients or speakers, drawn with replacement within each class, all recordings of a "
        "group together) and of the seeds: beside each method's mean ± std, the interval of its seed-mean score; "
        "differences to the baseline are paired (same test files, the same draws, seeds paired). The p-values come "
        "from a paired permutation test that swaps whole groups between the two methods: they are conditional on "
        "the classifiers trained here (the seeds' networks are held fixed), so they say whether these models "
        "differ on this test split, not whether retraining would reproduce the difference; the bootstrap "
        'intervals and the "Δ per seed" column carry the training variability. The validation split only picks '
        'early stopping and the decision threshold of the "val. threshold" scores.',
        primary_endpoints_line(methods, n_classes),
        multiple_comparisons_line(methods, scarcity),
        *([scarcity_budget_line(setup)] if scarcity else []),
        *resolution_lines(methods),
    ]
    lines += published_protocol_lines(shrunk, unstated or [], published_profile)
    labels = {method: method_label(method, n_learned) for method in methods}
    lines += ["", "## Primary endpoints", ""]
    for score in primary_of(methods):
        lines += [f"### {TITLES[score]}", "", markdown_endpoint(methods, score, labels), ""]
    lines += ["### Verdicts", "", *verdict_lines(methods, labels), ""]
    lines += render_against_classic(against_classic or {}, labels)
    lines += [
        *method_notes(setup, methods, n_learned),
        "",
        "![primary endpoints per method](figures/methods.png)",
        "",
        "## Where the decision moved (argmax; secondary)",
        "",
        "The argmax decision of each classifier. Balanced accuracy (the mean of the classes' recalls) and each "
        "class's recall (in the per-class table) show whether a method discriminates better or only moved its "
        "threshold: a moved threshold raises argmax accuracy by predicting the majority class more often while "
        "balanced accuracy and the minority's recall stay or fall.",
        "",
        markdown_decision(methods, labels),
    ]
    if setup.dataset.protocol == "medical":
        lines += [
            "",
            "The medical study's published test scores on Coswara, for orientation (other data, one run each):",
            "",
            markdown_table(
                ["Method", "Macro F1", "AUROC"], [[m, f"{f1:.3f}", f"{auc:.3f}"] for m, (f1, auc) in PUBLISHED_MEDICAL.items()]
            ),
        ]
    lines += [
        "",
        "## Per-class results (test, argmax decision)",
        "",
        "One row per method and class; support: test files of the class.",
        "",
        markdown_per_class(methods, labels, support=_test_support(methods)),
    ]
    if audits:
        lines += render_audit(
            audits,
            methods,
            repeats=setup.audit.repeats,
            audit_k=setup.audit.k,
            memorization_quantile=setup.audit.memorization_quantile,
            copy_distance_ratio=setup.audit.copy_distance_ratio,
        )
    if scarcity:
        lines += render_scarcity(
            scarcity, scarcity_shares or {}, trials=len(setup.scarcity.trials), gan_per_trial=setup.scarcity.gan_per_trial
        )
    return "\n".join(lines) + "\n"


def _test_support(methods: Mapping[str, MethodScores]) -> dict[str, int]:
    """Test files per class (every method is tested on the same files)."""
    return dict(next(iter(methods.values())).support)


NOTE_LIMIT = 8000  # MLflow truncates longer tag values


def summary_note(
    dataset_name: str,
    methods: dict[str, MethodScores],
    summarized: list[str],
    experiment_id: str,
    labels: dict[str, str] | None = None,
) -> str:
    """The summary run's description: the methods table (methods named by `labels`) and a link to every run it summarizes."""
    head = (
        f"# Results: {dataset_name}\n\n{markdown_methods(methods, labels=labels)}\n\nThe full report is the artifact results.md; "
        "summarized_runs.json lists every run id.\n\n## Runs summarized\n\n"
    )
    links: list[str] = []
    length = len(head)
    for run_id in summarized:
        link = f"- [{run_id}](#/experiments/{experiment_id}/runs/{run_id})\n"
        if length + len(link) > NOTE_LIMIT - 100:
            links.append(f"- … and {len(summarized) - len(links)} more in summarized_runs.json\n")
            break
        links.append(link)
        length += len(link)
    return head + "".join(links)
