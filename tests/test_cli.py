"""The `synthaug` command: every subcommand documents its inputs and outputs; errors are one message."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest

import synthaug.commands
import synthaug.stages
from synthaug.cli import COMMANDS, build_parser, main, summary


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("name", subcommands())
def test_help_says_what_each_subcommand_reads_and_writes(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "Reads" in text and "Writes" in text


def test_bad_params_give_one_clear_message_and_exit_2(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("dataset: {name: x, adapter: demo, root: data}\nfeaturize: {n_mels: -3}\n")
    code = main(["prepare", str(tmp_path / "out"), "--params", str(params)])
    err = capsys.readouterr().err
    assert code == 2
    assert "featurize.n_mels" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_data_root_names_the_folder(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(f"dataset: {{name: x, adapter: demo, root: {tmp_path / 'nowhere'}}}\n")
    code = main(["prepare", str(tmp_path / "out"), "--params", str(params), "--metrics", str(tmp_path / "m.json")])
    assert code == 2
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.json").exists()


def test_the_table_names_every_command_module_and_each_provides_its_arguments_and_run():
    modules = {f"synthaug.stages.{m.name}" for m in pkgutil.iter_modules(synthaug.stages.__path__)}
    modules |= {f"synthaug.commands.{m.name}" for m in pkgutil.iter_modules(synthaug.commands.__path__)}
    assert set(COMMANDS.values()) == modules
    for module in modules:
        source = module.replace(".", "/")
        text = (Path(synthaug.__file__).parents[1] / f"{source}.py").read_text()
        assert "\ndef add_arguments(" in text and "\ndef run(" in text, module


def test_the_list_of_commands_reads_each_summary_from_its_docstring(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert "scarcity one point of the industrial data-scarcity sweep, N real files per class, trial T." in text
    assert summary("train_generator@NAME: training spectrograms -> a generator.") == "training spectrograms -> a generator."
    assert summary("Plain first line: no prefix.") == "Plain first line: no prefix."


def test_an_unknown_command_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["prepar"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'prepar'" in capsys.readouterr().err


def test_every_synthaug_command_of_the_mlproject_entry_points_parses():
    import shlex

    import yaml

    from synthaug.cli import parse

    entry_points = yaml.safe_load((Path(__file__).resolve().parents[1] / "MLproject").read_text())["entry_points"]
    seen = set()
    for name, entry in entry_points.items():
        values = {key: str(spec.get("default", f"value-of-{key}")) for key, spec in entry.get("parameters", {}).items()}
        for part in entry["command"].format(**values).split("&&"):
            words = shlex.split(part)
            if words[0] == "synthaug":
                assert words[1] in COMMANDS, f"MLproject {name}: no command {words[1]!r}"
                parse(words[1:])  # exits with argparse's message when the arguments do not fit
                seen.add(words[1])
    assert {"prepare", "featurize", "report", "tune", "register", "promote", "predict"} <= seen


@pytest.mark.slow  # imports every command module (torch among them): about 10 s
def test_the_command_reference_in_docs_is_what_the_commands_say():
    from synthaug.cli_reference import render, updated

    path = Path(__file__).resolve().parents[1] / "docs" / "pipeline.md"
    text = path.read_text()
    assert updated(text, render(), str(path)) == text, "run `python -m synthaug.cli_reference --write docs/pipeline.md`"
