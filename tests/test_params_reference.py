"""docs/parameters.md is rendered from the params types: every key of the types is documented, no
documented key is unknown to them, and the committed file is what the renderer writes today."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from synthaug import params_reference as ref
from synthaug.config import Params
from synthaug.config_base import Section

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE = REPO_ROOT / "docs" / "parameters.md"


def _component_prefixes() -> tuple[str, ...]:
    """Prefixes of keys that components (adapters, generators, ...) define, while untyped in Params."""
    return tuple(
        f"{mapping}."
        for section in ref.OPEN_SECTIONS
        if ref._open_section_applies(section, Params)
        for mapping in section.mappings
    )


def test_reference_documents_every_params_key_and_no_unknown_one():
    documented = ref.documented_keys(REFERENCE.read_text())
    typed = set(ref.params_keys(Params))
    missing = sorted(typed - documented)
    unknown = sorted(k for k in documented - typed if not k.startswith(_component_prefixes()))
    fix = f"regenerate it: {ref.REGENERATE}"
    assert not missing, f"docs/parameters.md lacks params keys {missing}; {fix}"
    assert not unknown, f"docs/parameters.md documents keys the params types do not have: {unknown}; {fix}"


class _Window(Section):
    """Analysis window."""

    length: int = Field(1024, gt=0)  # samples per frame
    kind: Literal["hann", "hamming"] = "hann"


class _Toy(Section):
    """A toy section.

    Second paragraph, not shown."""

    # Frames per second of the
    # spectrogram.
    rate: float = Field(100.0, ge=1, lt=1000)
    name: str = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    cap: int | None = None  # null: no cap
    window: _Window = Field(default_factory=_Window)
    spaces: dict[str, _Window] = Field(default_factory=dict, description="named windows")


class _ToyParams(Section):
    toy: _Toy


def test_rows_carry_type_default_bounds_and_the_comment_beside_or_above_each_key():
    ((section, rows),) = ref.section_tables(_ToyParams)
    by_key = {row.key: row for row in rows}
    assert section == "toy"
    assert list(by_key) == [
        "toy.rate",
        "toy.name",
        "toy.seeds",
        "toy.cap",
        "toy.window.length",
        "toy.window.kind",
        "toy.spaces",
        "toy.spaces.<section>.length",
        "toy.spaces.<section>.kind",
    ]
    assert by_key["toy.rate"] == ref.KeyDoc(
        "toy.rate", "float", "`100.0`", ">= 1, < 1000", "Frames per second of the spectrogram."
    )
    assert (by_key["toy.name"].default, by_key["toy.name"].allowed) == ("required", "not empty")
    assert (by_key["toy.seeds"].type, by_key["toy.seeds"].default) == ("list of int", "`[0, 1]`")
    assert (by_key["toy.cap"].type, by_key["toy.cap"].description) == ("int or null", "null: no cap")
    assert by_key["toy.window.kind"].type == "`hann` / `hamming`"
    assert by_key["toy.window.length"].description == "samples per frame"
    assert by_key["toy.spaces"].description == "named windows"


def test_render_writes_one_table_per_section_between_the_markers():
    block = ref.render(_ToyParams, open_sections=())
    assert block.startswith(ref.BEGIN_MARKER) and block.rstrip().endswith(ref.END_MARKER)
    assert "### `toy`\n\nA toy section.\n" in block and "Second paragraph" not in block
    assert "| `toy.window.length` | int | `1024` | > 0 | samples per frame |" in block
    assert ref.documented_keys(block) == set(ref.params_keys(_ToyParams))


def test_params_yaml_comments_take_only_the_comment_on_the_keys_line(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        "featurize:\n"
        "  sample_rate: 16000  # Hz\n"
        "  n_fft: 2048\n"
        "  # a note about the next key, not about n_fft\n"
        "  hop_length: 512\n"
        "models:\n"
        "  vae:   # published: 5,000 steps\n"
        "    steps: 120\n"
        "    seeds: [0, 1]  # one per seed\n"
    )
    assert ref.params_yaml_comments(params) == {
        "featurize.sample_rate": "Hz",
        "models.vae": "published: 5,000 steps",
        "models.vae.seeds": "one per seed",
    }


def test_check_fails_naming_the_command_when_the_block_is_stale(tmp_path, monkeypatch, capsys):
    doc = tmp_path / "parameters.md"
    doc.write_text(f"# Parameters\n\nProse kept.\n\n{ref.BEGIN_MARKER}\nold\n{ref.END_MARKER}\n\nMore prose.\n")
    (tmp_path / "params.yaml").write_text("dataset: {}\n")
    monkeypatch.setattr(ref, "render", lambda **_: f"{ref.BEGIN_MARKER}\nnew\n{ref.END_MARKER}\n")
    params = ["--params", str(tmp_path / "params.yaml")]

    assert ref.main(["--check", str(doc), *params]) == 1
    assert ref.REGENERATE in capsys.readouterr().err
    assert ref.main(["--write", str(doc), *params]) == 0
    assert doc.read_text() == (f"# Parameters\n\nProse kept.\n\n{ref.BEGIN_MARKER}\nnew\n{ref.END_MARKER}\n\nMore prose.\n")
    assert ref.main(["--check", str(doc), *params]) == 0


def test_a_file_without_the_markers_is_an_error_naming_them():
    with pytest.raises(ValueError, match="BEGIN generated"):
        ref.documented_keys("# Parameters\n")


@pytest.mark.slow  # imports every generator (torch, diffusers) to read its defaults
def test_committed_reference_is_up_to_date():
    committed = REFERENCE.read_text()
    start, end = ref.generated_block(committed)
    assert committed[start:end] == ref.render(params_file=REPO_ROOT / "params.yaml"), (
        f"docs/parameters.md is out of date with the params types; run `{ref.REGENERATE}`"
    )


def test_every_generator_hyperparameter_has_a_description():
    """A generator's keys are described beside their defaults (one home), so none goes undocumented."""
    from synthaug.generator_configs import GENERATOR_CONFIGS
    from synthaug.params_components import field_comments

    for name, model in GENERATOR_CONFIGS.items():
        described = field_comments(model)
        assert [key for key in model.model_fields if not described.get(key)] == [], name


def test_every_key_of_the_reference_has_a_description():
    text = (Path(__file__).resolve().parents[1] / "docs" / "parameters.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    cells = [[cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]] for line in rows]
    undescribed = [row[0] for row in cells if not row[-1]]
    assert rows and not undescribed, f"keys without a description (comment them where they are defined): {undescribed}"
