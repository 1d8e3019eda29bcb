"""The report's verdict sentences and the paired comparison with classic augmentation read the numbers they show."""

from __future__ import annotations

from synthaug.evaluation.comparison import MethodScores
from synthaug.evaluation.verdicts import render_against_classic, verdict_lines


def scores(method: str, auroc: dict | None, f1: dict | None, groups: int = 30) -> MethodScores:
    versus = {} if auroc is None else {"auroc": auroc, "macro_f1_val_threshold": f1}
    return MethodScores(
        method=method,
        seeds=3,
        per_seed={},
        summary={},
        per_class={},
        versus_baseline=versus,
        primary=["auroc", "macro_f1_val_threshold"],
        test_groups={"negative": groups, "positive": groups},
    )


def comparison(difference: float, p_holm: float, half_width: float = 0.03) -> dict:
    return {
        "difference": difference,
        "ci_low": difference - half_width,
        "ci_high": difference + half_width,
        "p_value": p_holm,
        "p_holm": p_holm,
    }


def test_each_method_gets_one_sentence_that_follows_its_holm_p_values():
    methods = {
        "baseline": scores("baseline", None, None),
        "ddpm": scores("ddpm", comparison(0.06, 0.01), comparison(0.01, 0.6)),
        "vae": scores("vae", comparison(-0.05, 0.02), comparison(-0.04, 0.03)),
        "wgan_gp": scores("wgan_gp", comparison(0.04, 0.09), comparison(0.02, 0.5)),
    }
    lines = verdict_lines(methods, {"ddpm": "+ ddpm"})
    assert len(lines) == 3
    assert lines[0].startswith("- **+ ddpm**: helps (AUROC +0.060 [+0.030, +0.090], Holm p 0.01, resolution ±0.030")
    assert lines[1].startswith("- **vae**: hurts")
    assert lines[2].startswith("- **wgan_gp**: no detectable effect at this resolution")


def test_generators_are_read_against_classic_augmentation():
    against = {
        "classic_augmentation": scores("classic_augmentation", None, None),
        "ddpm": scores("ddpm", comparison(0.05, 0.01), comparison(0.0, 1.0)),
        "vae": scores("vae", comparison(-0.01, 0.7), comparison(0.0, 1.0)),
    }
    text = "\n".join(render_against_classic(against, {}))
    assert "## Against classic augmentation (paired)" in text
    assert "| ddpm | +0.050 [+0.020, +0.080], 0.01 | +0.000 [-0.030, +0.030], 1 | better than classic augmentation |" in text
    assert "| vae |" in text and text.count("no detectable difference") == 1
    assert render_against_classic({"classic_augmentation": against["classic_augmentation"]}, {}) == []
