"""Adapter `coswara`: an extracted Coswara tree `<YYYYMMDD>/<participant id>/<recording>.wav`.

Labels follow the medical protocol: `covid_status` healthy -> negative; positive_mild,
positive_moderate, positive_asymp -> positive; every other status (exposed, recovered, ...) is
left out and counted per status. The participant id is the group: each person has several
recordings, and a split that is not grouped by participant leaks people into the test set.

Audio is found by scanning `*/<id>/<recording>.wav`, not through `record_date`, because the date
folder need not match it. A participant found in several date folders is taken from the folder
that matches its `record_date`, else from the first folder in sorted order, and reported.
`min_quality` filters on the manual annotations (`<recording>_labels.csv`, columns FILENAME,
QUALITY: 2 excellent, 1 good, 0 bad); a recording without a label is excluded when filtering.
A participant id listed twice in the metadata keeps its first row (reported).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthaug.datasets.base import (
    AdapterResult,
    counted,
    examples,
    finish,
    require_columns,
    require_dir,
    require_file,
    resolve_option_path,
)
from synthaug.errors import ConfigError

LABELS = {"healthy": "negative", "positive_mild": "positive", "positive_moderate": "positive", "positive_asymp": "positive"}
QUALITY_LEVELS = (0, 1, 2)


def load(
    root: Path,
    recordings: list[str] | tuple[str, ...] = ("cough-heavy", "cough-shallow"),  # which recordings of each participant
    min_quality: int | None = None,  # keep recordings whose annotated quality is at least this (0, 1 or 2); null: all
    metadata_csv: str | Path | None = None,  # the participants table (default: <root>/combined_data.csv)
    annotations_dir: str | Path | None = None,  # the quality annotations (default: <root>/annotations)
) -> AdapterResult:
    """List the chosen recordings of healthy and positive participants under `root`.

    `metadata_csv` defaults to `<root>/combined_data.csv`, `annotations_dir` to `<root>/annotations`
    (optional unless `min_quality` is set); relative paths are relative to `root`.
    """
    fix = "point dataset.root at the extracted Coswara data (date folders holding participant folders)"
    root = require_dir(Path(root), "Coswara root", fix)
    recordings = _check_recordings(recordings)
    _check_min_quality(min_quality)
    metadata_path = require_file(
        resolve_option_path(root, metadata_csv, "combined_data.csv", "metadata_csv"),
        "Coswara metadata",
        "set dataset.options.metadata_csv to combined_data.csv",
    )
    participants, report = _read_participants(metadata_path)
    folders, folder_report = _find_folders(root, participants)
    report.update(folder_report)

    kept = participants[participants["label"].notna()]
    present = kept.merge(folders, on="id")
    report["participants_without_audio"] = counted(sorted(set(kept["id"]) - set(present["id"])))
    wanted = present.merge(pd.DataFrame({"recording": recordings}), how="cross")
    wanted["path"] = wanted["folder"] + "/" + wanted["recording"] + ".wav"
    found = wanted["path"].map(lambda p: (root / p).is_file())
    wanted = wanted.rename(columns={"id": "group"})
    report["missing_recordings"] = _per_recording(wanted[~found], recordings)
    files = wanted[found]

    quality = _read_quality(root, annotations_dir, recordings, required=min_quality is not None)
    files = files.merge(quality, on=["group", "recording"], how="left")
    files["quality"] = files["quality"].astype("Int64")
    report["quality"] = {"min_quality": min_quality, "annotated": not quality.empty}
    if min_quality is not None:
        unlabelled, low = files["quality"].isna(), files["quality"].fillna(-1) < min_quality
        report["quality"].update(
            {
                "unlabelled": _per_recording(files[unlabelled], recordings),
                "below_min_quality": _per_recording(files[low & ~unlabelled], recordings),
            }
        )
        files = files[~low]

    files = files.assign(split="", source="coswara")
    columns = ["path", "label", "group", "split", "source", "recording", "covid_status", "quality"]
    return finish(files[columns], root, "coswara", report)


def _read_participants(path: Path) -> tuple[pd.DataFrame, dict]:
    """id, covid_status, record_date and label (NaN for excluded statuses), one row per id."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    require_columns(table, ["id", "covid_status"], path)
    if "record_date" not in table:
        table["record_date"] = ""
    table = table[["id", "covid_status", "record_date"]].apply(lambda column: column.str.strip())
    duplicates = table.loc[table["id"].duplicated(), "id"]
    table = table[~table["id"].duplicated() & (table["id"] != "")].copy()
    table["label"] = table["covid_status"].map(LABELS)
    excluded = table.loc[table["label"].isna(), "covid_status"].replace("", "(empty)")
    report = {
        "metadata": str(path),
        "participants_in_metadata": len(table),
        "duplicate_metadata_ids": counted(duplicates.unique()),
        "excluded_status": {str(k): int(v) for k, v in excluded.value_counts().sort_index().items()},
    }
    return table, report


def _find_folders(root: Path, participants: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """One audio folder (`<date>/<id>`) per participant id, and what did not fit."""
    folders = pd.DataFrame(
        sorted(
            {
                (wav.parent.parent.name, wav.parent.name)
                for wav in root.glob("*/*/*.wav")
                if not wav.parent.parent.name.startswith(".")
            }
        ),
        columns=["date_dir", "id"],
    )
    folders["folder"] = folders["date_dir"] + "/" + folders["id"]
    dates = participants.set_index("id")["record_date"].str.replace("-", "")
    # Prefer the folder that matches record_date; stable sort keeps the sorted order otherwise.
    folders["matches_date"] = folders["date_dir"] == folders["id"].map(dates)
    folders = folders.sort_values(["id", "matches_date"], ascending=[True, False], kind="stable")
    repeated = folders[folders["id"].duplicated(keep=False)].groupby("id")["date_dir"].agg(", ".join)
    chosen = folders.drop_duplicates("id")
    unknown = chosen.loc[~chosen["id"].isin(participants["id"]), "folder"]
    report = {
        "participant_folders": len(chosen),
        "folders_without_metadata": counted(unknown),
        "participants_in_several_folders": counted(f"{pid}: {dirs}" for pid, dirs in repeated.items()),
    }
    return chosen[["id", "folder"]], report


def _read_quality(root: Path, annotations_dir, recordings: list[str], required: bool) -> pd.DataFrame:
    """group, recording, quality for every annotated recording (empty when there are no annotations)."""
    folder = resolve_option_path(root, annotations_dir, "annotations", "annotations_dir")
    fix = "set dataset.options.annotations_dir to the Coswara annotations folder"
    if required or annotations_dir is not None:
        require_dir(folder, "Coswara annotations folder", fix)
    frames = []
    for recording in recordings:
        path = folder / f"{recording}_labels.csv"
        if required:
            require_file(
                path,
                f"quality labels for {recording!r}",
                f"{fix}, or set dataset.options.min_quality to null (only cough recordings are annotated)",
            )
        if path.is_file():
            # The published header is "FILENAME, QUALITY": skipinitialspace drops the blank.
            table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
            require_columns(table, ["FILENAME", "QUALITY"], path)
            frames.append(
                pd.DataFrame(
                    {
                        "group": table["FILENAME"].str.strip().str.removesuffix(f"_{recording}"),
                        "recording": recording,
                        "quality": pd.to_numeric(table["QUALITY"], errors="coerce"),
                    }
                ).drop_duplicates(["group", "recording"], keep="last")
            )
    return pd.concat(frames) if frames else pd.DataFrame(columns=["group", "recording", "quality"])


def _per_recording(files: pd.DataFrame, recordings: list[str]) -> dict:
    """Count, count per recording and examples (`<id>/<recording>`) of some recordings."""
    return {
        "count": len(files),
        "per_recording": {r: int((files["recording"] == r).sum()) for r in recordings},
        "examples": examples(files["group"] + "/" + files["recording"]),
    }


def _check_recordings(recordings) -> list[str]:
    if isinstance(recordings, str) or not recordings or not all(isinstance(r, str) and r for r in recordings):
        raise ConfigError(
            f"dataset.options.recordings: expected a list of recording names such as "
            f"['cough-heavy', 'cough-shallow'], got {recordings!r}"
        )
    return list(dict.fromkeys(recordings))


def _check_min_quality(min_quality) -> None:
    if min_quality is not None and (isinstance(min_quality, bool) or min_quality not in QUALITY_LEVELS):
        raise ConfigError(
            f"dataset.options.min_quality: expected null or one of {list(QUALITY_LEVELS)} "
            f"(0 bad, 1 good, 2 excellent), got {min_quality!r}"
        )
