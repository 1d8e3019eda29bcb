"""End to end: `dvc repro` of both protocols on tiny demo sets in temporary git repositories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from synthaug.spectrograms import load_spectrogram_set
from tests.pipeline_projects import run, set_params

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(pipeline_projects) -> Path:
    """The medical protocol on the tiny cough set (tests further down change it: they run last)."""
    return pipeline_projects[0]


def test_repro_writes_manifest_features_and_metrics(project: Path):
    manifest = (project / "outputs/prepare/manifest.csv").read_text().splitlines()
    assert manifest[0].startswith("path,label,group,split,source,duration_s,sample_rate")
    assert len(manifest) - 1 == 80  # 40 participants x 2 recordings
    train = load_spectrogram_set(project / "outputs/features/train.npz")
    featurize = yaml.safe_load((project / "params.yaml").read_text())["featurize"]
    frames = 1 + int(featurize["duration_s"] * featurize["sample_rate"]) // featurize["hop_length"]  # centred frames
    assert train.x.shape[1:] == (1, featurize["n_mels"], frames)
    assert train.class_names == ["negative", "positive"]
    # The normalizer is fitted on train only: train is z-scored per mel channel, the others are not exactly.
    assert np.allclose(train.x.mean(axis=(0, 1, 3)), 0, atol=1e-3)
    assert np.allclose(train.x.std(axis=(0, 1, 3)), 1, atol=1e-2)
    metrics = json.loads((project / "metrics/featurize.json").read_text())
    assert sum(metrics["files"].values()) == 80
    assert json.loads((project / "metrics/prepare.json").read_text())["files"]["total"] == 80


def test_no_group_in_two_splits(project: Path):
    import pandas as pd

    manifest = pd.read_csv(project / "outputs/prepare/manifest.csv")
    assert (manifest.groupby("group")["split"].nunique() == 1).all()


def test_second_repro_changes_nothing(project: Path):
    out = run(["dvc", "repro"], project)
    assert "Running stage" not in out
    assert "up to date" in out


GENERATORS = ("vae", "wgan_gp", "ddpm", "cgan")


def test_baseline_classifier_metrics_predictions_and_curves(project: Path):
    import pandas as pd

    metrics = json.loads((project / "metrics/classifiers/baseline.json").read_text())
    assert metrics["seeds"] == 2
    for key in ("macro_f1", "auroc", "accuracy"):
        assert 0.0 <= metrics["test"]["file"][f"{key}_mean"] <= 1.0 and metrics["test"]["file"][f"{key}_std"] >= 0.0
    shown = run(["dvc", "metrics", "show"], project)
    assert "metrics/classifiers/baseline.json" in shown and "test.file.macro_f1_mean" in shown
    for seed in (0, 1):  # one complete run folder per seed
        run_json = json.loads((project / f"outputs/classifiers/baseline/seed{seed}/run.json").read_text())
        assert run_json["seed"] == seed and run_json["mlflow_run_id"]
    predictions = pd.read_csv(project / "outputs/classifiers/baseline/seed0/predictions_test.csv")
    assert list(predictions.columns) == ["file_id", "label", "p_negative", "p_positive"]
    assert np.allclose(predictions[["p_negative", "p_positive"]].sum(axis=1), 1.0, atol=1e-5)
    test = load_spectrogram_set(project / "outputs/features/test.npz")
    assert len(predictions) == len(test.y)  # the test split holds real data only
    curve = pd.read_csv(project / "plots/classifiers/baseline/learning_curve.csv")
    assert list(curve["epoch"]) == list(range(1, len(curve) + 1))
    for figure in ("learning_curves.png", "confusion_matrix.png", "roc.png"):
        assert (project / "outputs/classifiers/baseline/seed1" / figure).is_file()


def test_logged_classifier_loads_back_and_predicts_like_the_pipeline(project: Path):
    import mlflow
    import pandas as pd

    from synthaug import tracking

    mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
    run_ = mlflow.search_runs(
        experiment_names=["synthaug-demo-cough"],
        filter_string="tags.`synthaug.method` = 'baseline' and tags.`synthaug.seed` = '0' and tags.`synthaug.stage` = 'train_classifier'",
        output_format="list",
    )[0]
    logged = [
        m
        for m in mlflow.search_logged_models(experiment_ids=[run_.info.experiment_id], output_format="list")
        if m.source_run_id == run_.info.run_id
    ]
    model = mlflow.pyfunc.load_model(logged[0].model_uri)
    test = load_spectrogram_set(project / "outputs/features/test.npz")
    expected = pd.read_csv(project / "outputs/classifiers/baseline/seed0/predictions_test.csv")[["p_negative", "p_positive"]]
    assert np.allclose(np.asarray(model.predict(test.x[:5])), expected.to_numpy()[:5], atol=1e-5)


def test_every_generator_writes_a_labelled_synthetic_minority_set(project: Path):
    train = load_spectrogram_set(project / "outputs/features/train.npz")
    minority = int(np.argmin(np.bincount(train.y)))
    expected = round(0.5 * int((train.y == minority).sum()))
    for name in GENERATORS:
        synthetic = load_spectrogram_set(project / f"outputs/synthetic/{name}/synthetic.npz")
        assert synthetic.x.shape == (expected, *train.x.shape[1:])
        assert (synthetic.y == minority).all() and np.isfinite(synthetic.x).all()
        assert synthetic.metadata["generator"] == name and synthetic.metadata["generator_run_id"]
        assert (project / f"outputs/synthetic/{name}/real_vs_synthetic.png").is_file()
        assert len(list((project / f"outputs/synthetic/{name}/previews").glob("*.wav"))) == 1
    # Training finished, so no checkpoint is left to resume from.
    assert not any((project / "checkpoints").rglob("*.pt"))


METHODS = ("baseline", "classic_augmentation", *GENERATORS, "ensemble", "ensemble_fitted")


def test_ensemble_is_the_mean_of_its_members_probabilities(project: Path):
    import pandas as pd

    members = ("baseline", "vae", "wgan_gp", "ddpm")
    for seed in (0, 1):
        ensemble = pd.read_csv(project / f"outputs/ensemble/equal/seed{seed}/predictions_test.csv")
        probas = [
            pd.read_csv(project / f"outputs/classifiers/{m}/seed{seed}/predictions_test.csv")["p_positive"] for m in members
        ]
        assert np.allclose(ensemble["p_positive"], np.mean(probas, axis=0), atol=1e-9)
        fitted = json.loads((project / f"outputs/ensemble/fitted/seed{seed}/run.json").read_text())
        assert fitted["members"] == list(members) and abs(sum(fitted["weights"]) - 1.0) < 1e-9


def test_report_has_every_method_with_statistics_and_figures(project: Path):
    report = (project / "reports/results.md").read_text()
    assert "# Results: demo-cough (medical protocol)" in report
    assert "2 per method (0, 1)" in report  # the header states the seeds
    assert "`train_classifier.epochs` | `3` | `100`" in report  # and what the profile shrank
    assert "**Primary endpoints**" in report and "80 % power" not in report  # 2 seeds, too few test groups
    for endpoint in ("### AUROC", "### Macro F1 (val. threshold)"):
        table = report.split(endpoint)[1].split("\n\n")[1]  # the first table under the endpoint's heading
        # Row labels may carry a note after the method's name, e.g. "cgan (progressive GAN, unconditional: one class)".
        rows = {line.split("|")[1].strip().split(" (")[0]: line for line in table.splitlines() if line.startswith("| ")}
        rows = {("classic_augmentation" if label == "classic augmentation" else label): line for label, line in rows.items()}
        for method in METHODS:
            assert "±" in rows[method], method
            if method != "baseline":  # difference with its interval, p-values and each seed's difference
                cells = [cell.strip() for cell in rows[method].split("|")]
                assert "[" in cells[4] and cells[5] and cells[6] and cells[7].count(",") == 1, (endpoint, method)
    decision = report.split("## Where the decision moved")[1].split("\n## ")[0]
    assert "Balanced accuracy [CI]" in decision and "Accuracy (argmax, secondary) [CI]" in decision
    for figure in ("reports/figures/methods.png",):
        assert (project / figure).stat().st_size > 10_000
    metrics = json.loads((project / "metrics/report.json").read_text())
    assert set(metrics["methods"]) == set(METHODS)
    assert "delta_macro_f1" in metrics["methods"]["vae"] and "delta_macro_f1" not in metrics["methods"]["baseline"]
    assert "method" in (project / "plots/report/methods.csv").read_text().splitlines()[0]


def test_summary_run_links_every_classifier_run_of_the_report(project: Path):
    import mlflow

    from synthaug import tracking

    mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
    runs = mlflow.search_runs(experiment_names=["synthaug-demo-cough"], output_format="list")
    summary = [r for r in runs if r.data.tags["synthaug.stage"] == "report"][-1]
    classifier_runs = [r for r in runs if r.data.tags["synthaug.stage"] in ("train_classifier", "ensemble")]
    # The minority sweep's classifiers are summarized too: one run folder (and run) per point and arm.
    sweep_runs = len(list((project / "outputs/minority_scarcity").glob("*/*/run.json")))
    assert sweep_runs == 6 + 5  # f0.5: baseline, classic, vae, vae+fine_tune, vae+utility, ceiling; f1.0: no ceiling
    assert {r.data.tags["synthaug.method"] for r in classifier_runs} == set(METHODS)
    assert len(classifier_runs) == len(METHODS) * 2  # one per method and seed
    for r in classifier_runs:
        assert r.data.tags["synthaug.protocol"] == "medical"
        assert r.data.tags["synthaug.summary_run_id"] == summary.info.run_id
        assert r.info.run_id in summary.data.tags["mlflow.note.content"]
    assert summary.data.tags["synthaug.summarized_runs"] == str(len(classifier_runs) + sweep_runs)


def test_audit_of_every_generator_is_in_metrics_report_and_generator_run(project: Path):
    import mlflow

    from synthaug import tracking

    metrics = json.loads((project / "metrics/audit.json").read_text())
    assert set(metrics) == set(GENERATORS) | {"real_validation"}  # the reference row: real validation data
    for name in [*GENERATORS, "real_validation"]:
        audit = metrics[name]["positive"]  # the medical protocol audits the minority class
        assert set(audit) == {"classifier", "log_mel", "band_statistics", "two_sample_auroc_strongest", "two_sample_p_value"}
        assert audit["classifier"]["kid_val"] is not None
        # The tiny project's validation halves hold one participant each: a two-sample test in group folds
        # needs two groups a side, so only the synthetic sets against the training data get an AUROC.
        for key in ("two_sample_auroc_val", "two_sample_auroc_train"):
            value = audit["classifier"][key]
            assert (value is None) if key.endswith("val") or name == "real_validation" else 0.0 <= value <= 1.0, (name, key)
    for name in GENERATORS:
        scores = np.load(project / f"outputs/audit/{name}/scores.npz")
        assert set(scores.files) == {"manifold_distance", "copy_ratio", "confidence"}
        assert len(scores["confidence"]) == len(load_spectrogram_set(project / f"outputs/synthetic/{name}/synthetic.npz").y)
    report = (project / "reports/results.md").read_text()
    audit_table = report.split("## Synthetic data audit")[1]
    assert "| positive | real (validation) |" in audit_table
    for name in GENERATORS:
        assert f"| positive | {name} |" in audit_table
        assert (project / f"reports/figures/nearest_neighbours_{name}.png").is_file()
    mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
    generator_runs = mlflow.search_runs(
        experiment_names=["synthaug-demo-cough"], output_format="list", filter_string="tags.`synthaug.stage` = 'train_generator'"
    )
    for run_ in generator_runs:
        name = run_.data.tags["synthaug.method"]
        # The audit's numbers in the generator's run (NaN ones, as the tiny project's val AUROC, are left out).
        logged = run_.data.metrics["audit.positive.classifier.two_sample_auroc_train"]
        assert logged == pytest.approx(metrics[name]["positive"]["classifier"]["two_sample_auroc_train"])
        assert "audit.positive.classifier.two_sample_auroc_val" not in run_.data.metrics
        reference = run_.data.metrics["audit_reference.positive.classifier.kid_val"]
        assert reference == pytest.approx(metrics["real_validation"]["positive"]["classifier"]["kid_val"])


def test_promoted_champion_classifies_new_audio_like_the_pipeline(project: Path):
    """make promote's two commands, then `synthaug predict` on the data folder: the champion's file-level
    probabilities are its pipeline run's, computed here from the audio alone."""
    import mlflow
    import pandas as pd

    from synthaug import tracking
    from synthaug.evaluation.run_folder import file_level

    assert "new version(s)" in run(["synthaug", "register"], project)
    assert "champion is now version" in run(["synthaug", "promote"], project)
    assert "0 new version(s)" in run(["synthaug", "register"], project)  # registering again adds nothing
    out = run(
        ["synthaug", "predict", "models:/synthaug-demo-cough@champion", "data/demo/cough", "--out", "predictions.csv"], project
    )
    assert "file(s) classified" in out

    mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias("synthaug-demo-cough", "champion")
    versions = client.search_model_versions("name = 'synthaug-demo-cough'")
    assert len(versions) == 6 * 2 + 2 * 2  # 6 methods x 2 seeds, equal and fitted ensembles x 2 seeds
    from synthaug.registry.promotion import logged_metrics

    # Promotion compares the metrics linked to each version's logged model.
    best = max(logged_metrics(client, v)["val_file_macro_f1"] for v in versions)
    assert logged_metrics(client, champion)["val_file_macro_f1"] == best
    assert champion.tags["synthaug.promotion.outcome"] == "promoted"

    predicted = pd.read_csv(project / "predictions.csv", keep_default_na=False)
    predicted["file_id"] = [str(Path(p).relative_to("data/demo/cough")) for p in predicted["path"]]
    proba, _, file_ids = file_level(project / champion.tags["synthaug.run_dir"], "test", ["negative", "positive"])
    mine = predicted.set_index("file_id").loc[list(file_ids), ["p_negative", "p_positive"]].astype(float).to_numpy()
    assert np.allclose(mine, proba, atol=1e-5)


def test_dvc_experiment_changes_a_param_and_lists_metrics(project: Path):
    out = run(["dvc", "exp", "run", "-S", "ensemble.fit_weights=false"], project)
    assert "Running stage 'ensemble'" in out and "Running stage 'report'" in out
    assert "Running stage 'train_classifier'" not in out
    shown = run(["dvc", "exp", "show", "--json"], project)
    assert "metrics/report.json" in shown and "delta_macro_f1" in shown
    assert "ensemble_fitted" not in json.loads((project / "metrics/report.json").read_text())["methods"]


def would_run(project: Path) -> set[str]:
    """The stages whose own inputs changed (a dry run executes nothing, so stages further down,
    which run only when these change their outputs, are not listed)."""
    out = run(["dvc", "repro", "--dry"], project)
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}


def test_generator_param_reruns_only_its_chain(project: Path):
    before = (project / "params.yaml").read_text()
    set_params(project, {"train_generator": {"models": {"vae": {"latent_dim": 64}}}})
    # Then synthesize@vae and train_augmented@vae, which read its output; audit and report list the generators;
    # the minority sweep trains its own vae (conftest.py: MEDICAL_OVERLAY).
    assert would_run(project) == {"train_generator@vae", "audit", "report", "minority_scarcity@0.5-0", "minority_scarcity@1.0-0"}
    (project / "params.yaml").write_text(before)
    assert would_run(project) == set()


def test_featurize_param_reruns_featurize_and_its_dependents_only(project: Path):
    n_mels = yaml.safe_load((project / "params.yaml").read_text())["featurize"]["n_mels"] // 2
    set_params(project, {"featurize": {"n_mels": n_mels}})
    # The report compares every setting with the published protocol, so it reads featurize too.
    assert would_run(project) == {"featurize", "report"}
    out = run(["dvc", "repro", "featurize"], project)
    assert "Running stage 'featurize'" in out and "Running stage 'prepare'" not in out
    assert load_spectrogram_set(project / "outputs/features/val.npz").x.shape[2] == n_mels


def test_mlflow_runs_have_tags_params_and_figures(project: Path):
    import mlflow

    from synthaug import tracking

    mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
    runs = mlflow.search_runs(experiment_names=["synthaug-demo-cough"], output_format="list")
    stages = {logged.data.tags["synthaug.stage"] for logged in runs}
    assert {"prepare", "featurize", "train_generator", "synthesize", "train_classifier", "ensemble", "report"} <= stages
    by_id = {logged.info.run_id: logged for logged in runs}
    for logged in runs:
        if logged.data.tags["synthaug.stage"] == "synthesize":  # lineage: synthesis -> generator run
            parent = by_id[logged.data.tags["synthaug.generator_run_id"]]
            assert parent.data.tags["synthaug.method"] == logged.data.tags["synthaug.method"]
    client = mlflow.MlflowClient()
    for logged in runs:
        tags = logged.data.tags
        assert tags["synthaug.data_version"] not in ("", "untracked")
        assert tags["mlflow.source.git.commit"] != "unknown"
        assert logged.info.status == "FINISHED"
        artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
        expected = {
            "prepare": "examples_per_class.png",
            "featurize": "examples_per_class.png",
            "train_generator": "samples",
            "synthesize": "real_vs_synthetic.png",
            "train_classifier": "learning_curves.png",
            "ensemble": "roc.png",
            "report": "results.md",
        }
        if tags["synthaug.stage"] == "minority_scarcity":  # the sweep's generators and classifiers
            assert {"real_vs_synthetic.png", "learning_curves.png"} & artifacts
            continue
        assert expected[tags["synthaug.stage"]] in artifacts
    featurize = next(r for r in runs if r.data.tags["synthaug.stage"] == "featurize")
    assert featurize.data.params["featurize.n_fft"] == "2048"
    assert featurize.data.metrics["featurize.files.train"] > 0


@pytest.fixture(scope="module")
def machine_project(pipeline_projects) -> Path:
    """The industrial protocol on the tiny machine set (conftest.py: MACHINE_OVERLAY)."""
    return pipeline_projects[1]


def test_machine_profile_cuts_clips_and_keeps_the_predefined_split(machine_project: Path):
    import pandas as pd

    manifest = pd.read_csv(machine_project / "outputs/prepare/manifest.csv")
    test_files = manifest[manifest["split"] == "test"]["path"]
    assert test_files.str.endswith("_vol100.wav").all() and len(test_files) == 4
    assert set(manifest["split"]) == {"train", "val", "test"}  # val carved out of the predefined train
    test = load_spectrogram_set(machine_project / "outputs/features/test.npz")
    # 6 s recordings, 5 s clips, 50 % overlap: one clip per file; every clip keeps its file id.
    featurize = yaml.safe_load((machine_project / "params.yaml").read_text())["featurize"]
    frames = 1 + int(featurize["duration_s"] * featurize["sample_rate"]) // featurize["hop_length"]  # centred frames
    assert test.x.shape[1:] == (1, featurize["n_mels"], frames)
    assert sorted(set(test.file_id)) == sorted(test_files)


def test_scarcity_trains_each_gan_on_exactly_its_nested_subset(machine_project: Path):
    import pandas as pd

    manifest = pd.read_csv(machine_project / "outputs/prepare/manifest.csv")
    train_files = set(manifest.loc[manifest["split"] == "train", "path"])
    label = dict(zip(manifest["path"], manifest["label"]))
    train_per_class = manifest.loc[manifest["split"] == "train", "label"].value_counts().to_dict()
    train = load_spectrogram_set(machine_project / "outputs/features/train.npz")
    subsets = {}
    for n in (1, 2):
        for trial in (0, 1):
            point = machine_project / f"outputs/scarcity/n{n}-t{trial}"
            subset = (point / "subset.txt").read_text().split()
            assert set(subset) <= train_files
            assert pd.Series([label[p] for p in subset]).value_counts().eq(n).all() and len(subset) == 4 * n
            summary = json.loads((point / "point.json").read_text())
            assert summary["n_real_clips"] == int(np.isin(train.file_id, subset).sum())
            # The ceiling where the subset left training files of every class out: their clips only.
            left_out = min(train_per_class.values()) > n
            assert set(summary["runs"]) == {"baseline", "baseline_classic", "gan", "gan_classic"} | (
                {"real_ceiling"} if left_out else set()
            )
            added = (point / "ceiling.txt").read_text().split()
            assert set(added) <= train_files - set(subset) and bool(added) == left_out
            assert summary["runs"]["gan"]["n_synthetic"] > 0 and summary["runs"]["baseline"]["n_synthetic"] == 0
            subsets.setdefault(n, set(subset))
            assert subsets[n] == set(subset)  # every trial uses the same subset
    assert subsets[1] < subsets[2]  # nested


def test_industrial_report_has_the_scarcity_table_and_figures(machine_project: Path):
    report = (machine_project / "reports/results.md").read_text()
    assert "# Results: demo-machine (industrial protocol)" in report and "## Data scarcity" in report
    accuracy_table = report.split("## Data scarcity")[1].split("\n\n")[2]  # after the sentence introducing it
    rows = [line for line in accuracy_table.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2 and all(line.count("±") in (4, 5) for line in rows)  # four variants and the ceiling, mean ± std
    assert "Share of ceiling (accuracy)" in report and "real_ceiling at 1 file per class**" in report
    for metric in ("accuracy", "macro_f1"):
        assert (machine_project / f"reports/figures/scarcity_{metric}.png").stat().st_size > 10_000
    wide = (machine_project / "plots/report/scarcity_accuracy.csv").read_text().splitlines()
    assert wide[0].startswith("files_per_class,baseline,baseline_classic,gan,gan_classic") and len(wide) == 3
    metrics = json.loads((machine_project / "metrics/report.json").read_text())
    assert set(metrics["scarcity_accuracy"]) == {"n1", "n2"}
    assert set(metrics["methods"]) == {"baseline", "classic_augmentation", "cgan", "ensemble", "ensemble_fitted"}


def test_curation_drops_synthetic_samples_and_logs_the_share(machine_project: Path):
    import mlflow

    from synthaug import tracking

    metrics = json.loads((machine_project / "metrics/classifiers/cgan.json").read_text())
    n_synthetic = len(load_spectrogram_set(machine_project / "outputs/synthetic/cgan/synthetic.npz").y)
    assert 0 <= metrics["curation_dropped"] <= n_synthetic
    assert metrics["curation_dropped_share"] == pytest.approx(metrics["curation_dropped"] / n_synthetic)
    mlflow.set_tracking_uri(tracking.default_tracking_uri(machine_project))
    runs = mlflow.search_runs(
        experiment_names=["synthaug-demo-machine"],
        output_format="list",
        filter_string="tags.`synthaug.method` = 'cgan' and tags.`synthaug.stage` = 'train_classifier'",
    )
    assert runs and all(r.data.tags["synthaug.curated"] == "true" for r in runs)
    assert all(float(r.data.params["curation_dropped_share"]) == pytest.approx(metrics["curation_dropped_share"]) for r in runs)


def test_minority_sweep_points_draw_the_ceiling_from_held_back_training_positives(project: Path):
    manifest = pd.read_csv(project / "outputs/prepare/manifest.csv").set_index("path")
    half = project / "outputs/minority_scarcity/f0.5-t0"
    assert sorted(p.name for p in half.iterdir() if p.is_dir()) == [
        "baseline",
        "classic_augmentation",
        "real_ceiling",
        "vae",
        "vae+fine_tune",
        "vae+utility",
    ]
    subset, ceiling = (half / "subset.txt").read_text().split(), (half / "ceiling.txt").read_text().split()
    assert ceiling and not set(ceiling) & set(subset)
    assert set(manifest.loc[ceiling, "split"]) == {"train"} and set(manifest.loc[ceiling, "label"]) == {"positive"}
    whole = project / "outputs/minority_scarcity/f1.0-t0"
    assert not (whole / "real_ceiling").exists() and json.loads((whole / "point.json").read_text())["ceiling"] != "added"
    report = (project / "reports/results.md").read_text()
    assert "## Minority scarcity (medical protocol)" in report and "**+ real (ceiling) at 0.5**" in report
    assert "## Against classic augmentation (paired)" in report
    assert (project / "reports/figures/minority_scarcity_auroc.png").stat().st_size > 10_000
