"""The `synthaug` command: every subcommand documents its inputs and outputs; errors are one message."""

from __future__ import annotations

import pytest

from synthaug.cli import build_parser, main


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
