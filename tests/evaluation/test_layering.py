"""Imports run one way, down the layers: evaluation/ never imports the trainers, stages or tools above it,
and takes params sections from the stages, never the whole params nor params.yaml."""

import ast
from pathlib import Path

import synthaug.evaluation

HIGHER_LAYERS = ("synthaug.classifier_runs", "synthaug.stages", "synthaug.tuning", "synthaug.registry", "synthaug.cli")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_evaluation_module_imports_a_higher_layer():
    folder = Path(synthaug.evaluation.__file__).parent
    upward = {
        f"{path.name}: {module}"
        for path in folder.glob("*.py")
        for module in imported_modules(path)
        if module.startswith(HIGHER_LAYERS)
    }
    assert not upward, f"evaluation/ imports up the layers: {sorted(upward)}"


WHOLE_PARAMS = {"Params", "load_params", "parse_params", "read_yaml"}


def test_evaluation_tuning_and_curation_take_sections_never_the_whole_params():
    """The stages read params.yaml and pass the sections a step needs (ReportSetup and the tuning's
    TrialSetup hold sections)."""
    import synthaug.curation
    import synthaug.tuning

    paths = [
        *Path(synthaug.evaluation.__file__).parent.glob("*.py"),
        *Path(synthaug.tuning.__file__).parent.glob("*.py"),
        Path(synthaug.curation.__file__),
    ]
    readers = sorted(
        f"{path.name}: {alias.name}"
        for path in paths
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "synthaug.config"
        for alias in node.names
        if alias.name in WHOLE_PARAMS
    )
    assert not readers, f"these modules take the whole params: {readers}"
