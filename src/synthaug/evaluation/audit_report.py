"""The synthetic-data audit's section of the report: per class, the real reference row, then each set.

Reads the audit stage's per-generator audit.json (synthaug.evaluation.fidelity's rows) and renders
the tables the report shows under "Synthetic data audit".
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from synthaug.evaluation.comparison import MethodScores, primary_of
from synthaug.evaluation.endpoints import TITLES
from synthaug.evaluation.formatting import difference, markdown_table, number_text


def audit_rows(audits: Mapping[str, dict]) -> dict[str, dict[str, dict]]:
    """{class: {set: {view: row}}}: the real-validation reference row first, then each generator that made the class."""
    from synthaug.evaluation.fidelity import REFERENCE

    table: dict[str, dict[str, dict]] = {}
    for name, result in audits.items():
        for cls, by_view in result["classes"].items():
            rows = table.setdefault(cls, {})
            if REFERENCE not in rows and cls in result.get("reference", {}):
                rows[REFERENCE] = result["reference"][cls]
            rows[name] = by_view
    return {cls: dict(sorted(rows.items(), key=lambda item: item[0] != REFERENCE)) for cls, rows in table.items()}


def permutation_p(audits: Mapping[str, dict], name: str, cls: str) -> float:
    """The group permutation p-value of a set's (or the reference row's) strongest two-sample AUROC; NaN if absent."""
    from synthaug.evaluation.fidelity import REFERENCE

    for set_name, result in audits.items():
        if name == REFERENCE:
            test = result.get("reference_permutation_tests", {}).get(cls)
        elif set_name == name:
            test = result.get("permutation_tests", {}).get(cls)
        else:
            continue
        if test and test.get("p_value") is not None:
            return float(test["p_value"])
    return math.nan


def validation_half_note(audits: Mapping[str, dict]) -> str:
    """A sentence when the generators chose snapshots on half of validation and the audit scored the other."""
    halves = [result.get("validation", {}) for result in audits.values()]
    reporting = next((half for half in halves if half.get("half") == "reporting"), None)
    if reporting is None:
        return ""
    return (
        " The generators served the snapshot closest to real data on half of the validation groups "
        "(train_generator.fidelity_snapshots), so every row here is scored on the other half only "
        f"({reporting.get('files')} files of {reporting.get('groups')} groups): choosing and reporting never "
        "share data."
    )


def render_audit(
    audits: dict[str, dict],
    methods: dict[str, MethodScores],
    *,
    repeats: int,
    audit_k: int,
    memorization_quantile: float,
    copy_distance_ratio: float,
) -> list[str]:
    """The audit section: per class, every generator beside the real-validation reference row, in each view.

    A summary table quotes each set's strongest two-sample AUROC (the maximum over tests and views) beside
    its classifier gain; one small table per view gives the metrics, one row per class x set.
    """
    from synthaug.evaluation.fidelity import REFERENCE, REFERENCE_LABEL, strongest_two_sample

    table = audit_rows(audits)
    # The views the audit wrote, in its order (older audits hold two).
    views = list(next(iter(audits.values()), {}).get("views", ["classifier", "log_mel"]))
    gain_score = primary_of(methods)[0] if methods else "auroc"
    view_names = {
        "classifier": "classifier view (the first seed's baseline, penultimate layer)",
        "log_mel": "log-mel view (a fixed random projection of the spectrogram)",
        "band_statistics": "band-statistics view (each mel band's mean and spread over time)",
    }

    def label(name: str) -> str:
        return REFERENCE_LABEL if name == REFERENCE else name

    def pair(row: Mapping, first: str, second: str, spec: str = ".2f") -> str:
        return f"{number_text(row.get(first), spec)} / {number_text(row.get(second), spec)}"

    summary = []
    for cls, rows in table.items():
        for name, by_view in rows.items():
            best = strongest_two_sample(by_view)
            where = f"{best['view'].replace('_', '-')}, {best['test']}" if best["view"] else "n/a"
            gain = (
                "—"
                if name == REFERENCE
                else (difference(methods[name].versus_baseline.get(gain_score)) if name in methods else "n/a")
            )
            copies = " / ".join(number_text(by_view.get(view, {}).get("memorization_rate"), ".0%") for view in views)
            p_value = permutation_p(audits, name, cls)
            summary.append(
                [cls, label(name), number_text(best["auroc"], ".2f"), where, number_text(p_value, ".2g"), copies, gain]
            )

    def view_rows(view: str) -> list[list[str]]:
        out = []
        for cls, rows in table.items():
            for name, by_view in rows.items():
                a = by_view.get(view, {})
                frechet = f"{number_text(a.get('frechet_val'), '.3g')} ({number_text(a.get('frechet_dims_val'), '.0f')})"
                out.append(
                    [
                        cls,
                        label(name),
                        number_text(a.get("n"), "d"),
                        pair(a, "two_sample_auroc_knn_val", "two_sample_auroc_quadratic_val"),
                        pair(a, "two_sample_auroc_knn_train", "two_sample_auroc_quadratic_train"),
                        f"{number_text(a.get('kid_val'), '.3g')} / {frechet}",
                        " / ".join(number_text(a.get(k), ".2f") for k in ("precision", "recall", "coverage")),
                        number_text(a.get("memorization_rate"), ".0%"),
                    ]
                )
        return out

    # Eight columns (KID and FD in one cell, precision / recall / coverage in another), so the tables
    # stay readable with ten classes and four generators.
    view_header = [
        "Class",
        "Set",
        "n",
        "AUROC val (kNN / quad.)",
        "AUROC train (kNN / quad.)",
        "KID / FD val (dims)",
        "Precision / recall / coverage",
        "Copies",
    ]
    lines = [
        "",
        "## Synthetic data audit",
        "",
        "Every synthetic set is scored against real data no generator saw: each class's validation files are "
        "split by group (participant or recording) into a comparison half and a reference half, and the "
        f"reference half is scored exactly like a synthetic set. Its row, **{REFERENCE_LABEL}**, is what a "
        "perfect generator would get at this sample size; a generator is as good as its distance from that "
        f"row. Each synthetic set is subsampled to the reference half's size (n); {repeats} group "
        "splits are averaged. The test split is not read." + validation_half_note(audits),
        "",
        "- **Two-sample AUROC**: out-of-fold AUROC of a classifier telling the set from the comparison half "
        "(val) or from the training data (train); 0.5 = indistinguishable, 1 = trivially separable. kNN on "
        "standardized features sees shape and spread; quad. (logistic regression on the features and their "
        "squares) sees shifts of each feature's mean and spread where kNN's neighbourhoods fail. "
        "Both are cross-validated in group folds: a participant's recordings, or a file's clips, never sit on "
        "both sides of a fold, or real data would look unlike real data. *Strongest*: each test's mean over "
        "the splits, the highest over tests and views, the figure to quote. At a few dozen samples the AUROC "
        "of identical distributions scatters around 0.5 (and a maximum over four tests lifts it): compare each "
        "set with the reference row and read its permutation p-value, not the distance from 0.5.",
        "- **KID**: unbiased MMD² with a cubic polynomial kernel (≈ 0 for one distribution, may dip below 0), "
        "on features centred and scaled by the class's training data. **FD**: Fréchet distance after a PCA "
        "(fitted on the comparison half) to the dimensions in brackets, at most n / 5, since a full-width "
        "covariance from a few dozen samples measures the sample size, not the generator.",
        f"- **Precision / recall / coverage** against the comparison half (k = {audit_k}). **Copies**: share "
        "of samples closer to a training sample than all but "
        f"{memorization_quantile:.0%} of validation samples are, and whose nearest training "
        f"distance is below {copy_distance_ratio:g} × the distance to the nearest training sample of another "
        "group (a blurry sample at the class mean is close to every training sample, not a copy of one; a "
        "participant's other recording or the overlapping clip is not a second, independent sample).",
        "",
        f"Summary (Δ {TITLES[gain_score]}: the generator's classifier gain on the first primary endpoint; p "
        "(group permutation): whether the strongest test tells the set from real validation data at this n, "
        "dealing whole groups afresh to either side and taking the maximum over tests and views again (at the "
        "first split; large p: indistinguishable at this n); copies: "
        + " / ".join(v.replace("_", " ") for v in views)
        + " view):",
        "",
        markdown_table(
            [
                "Class",
                "Set",
                "Strongest AUROC val",
                "View, test",
                "p (group permutation)",
                "Copies",
                f"Δ {TITLES[gain_score]} vs baseline [CI], p",
            ],
            summary,
        ),
        "",
        "![audit per class and view](figures/audit.png)",
    ]
    for view in views:
        lines += ["", f"In the {view_names[view]}:", "", markdown_table(view_header, view_rows(view))]
    lines.append("")
    for name in audits:
        lines += [f"![{name}: most copy-like samples](figures/nearest_neighbours_{name}.png)", ""]
    return lines[:-1]
