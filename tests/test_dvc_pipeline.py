"""dvc.yaml declares what each stage really reads and writes, so `dvc repro` re-runs a stage exactly
when something it uses changes and tracks every file it makes.

The stages are resolved by DVC itself (foreach and matrix expanded) from the project's dvc.yaml and
params.yaml, with the data-scarcity sweep switched on so its stages exist. Nothing is run: the code
a stage uses is found by reading import statements (ast), and the paths a stage reads and writes by
parsing its `cmd` with the `synthaug` command's own argument parser.

The code a stage uses: every module its stage module imports (inside its functions too), and what
those import at module level, transitively. Imports inside library functions are deferred on
purpose (a generator module is imported only when that generator is asked for) and are not
followed: a stage that uses such code names its folder (e.g. src/synthaug/generators).
"""

from __future__ import annotations

import ast
import shlex
import shutil
from pathlib import Path, PurePosixPath

import pytest
import yaml

from synthaug.cli import parse

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "synthaug"
# Arguments of the stage subcommands that name what a stage writes; every other path argument is read.
OUTPUT_ARGUMENTS = ("out_dir", "metrics", "plots")


def module_file(name: str) -> Path | None:
    """The source file of synthaug module or package `name`, or None when it is not one."""
    base = SRC.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path, *, in_functions: bool = True) -> set[str]:
    """synthaug modules `path` imports, with the packages Python runs on the way: at module level,
    and inside functions when `in_functions`; imports only for type checkers are left out."""
    found: set[str] = set()

    def add(name: str) -> None:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            if module_file(".".join(parts[:i])) is not None:
                found.add(".".join(parts[:i]))

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and not in_functions:
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == PACKAGE:
            add(node.module)
            for alias in node.names:  # `from synthaug import tracking` imports a module
                add(f"{node.module}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def transitive_imports(stage_module: str) -> set[str]:
    """The stage module, everything it imports, and the module-level imports of those, transitively."""
    seen = {stage_module}
    todo = list(imported_modules(module_file(stage_module)))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(imported_modules(module_file(name), in_functions=False) - seen)
    return seen


def _runs_code(path: Path) -> bool:
    """False for a package __init__ that holds only a docstring and constants such as __version__:
    nothing in it can change what a stage computes, so no stage needs to depend on it."""
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            continue
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
            continue
        return True
    return False


def covered(path: str, deps: list[str]) -> bool:
    """A dep on a folder covers every file below it."""
    path = PurePosixPath(path)
    return any(path == PurePosixPath(dep) or PurePosixPath(dep) in path.parents for dep in deps)


def overlaps(path: str, deps: list[str]) -> bool:
    """The stage depends on `path`, on a folder above it, or on files inside it (it reads only those)."""
    path = PurePosixPath(path)
    return any(covered(str(path), [dep]) or path in PurePosixPath(dep).parents for dep in deps)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """(stages, plot definitions, artifacts, params) of dvc.yaml as DVC resolves them, every
    foreach and matrix expanded, with one point of each data-scarcity sweep switched on."""
    dvc_repo = pytest.importorskip("dvc.repo")
    project = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "dvc.yaml", project / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["scarcity"].update(files_per_class=[2], trials=[0])
    params["minority_scarcity"].update(fractions=[0.25], trials=[1])
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    repo = dvc_repo.Repo.init(str(project), no_scm=True)
    try:
        stages = {stage.addressing.split(":")[-1]: stage for stage in repo.index.stages}
        plots = [definition for definitions in repo.index._plots.values() for definition in definitions]
        artifacts = {name: artifact for by_file in repo.artifacts.read().values() for name, artifact in by_file.items()}
        yield stages, plots, artifacts, params
    finally:
        repo.close()


def stage_call(stage):
    """(stage module, parsed arguments) of a stage whose cmd is one `synthaug` subcommand."""
    words = shlex.split(stage.cmd)
    assert words[0] == "synthaug", f"{stage.addressing}: cmd should run one synthaug subcommand, got {stage.cmd!r}"
    args = parse(words[1:])
    module = f"{PACKAGE}.stages.{args.command}"
    assert module_file(module) is not None, f"{stage.addressing}: no stage module {module}"
    return module, args


def dep_paths(stage) -> list[str]:
    return [str(dep.def_path) for dep in stage.deps if str(dep.def_path) != "params.yaml"]


def test_every_stage_variant_is_resolved(pipeline):
    stages, _, _, params = pipeline
    generators = [name for name, recipe in params["train_generator"]["models"].items() if recipe is not None]
    expected = {
        "prepare",
        "featurize",
        "train_classifier",
        "train_classic",
        "audit",
        "ensemble",
        "report",
        "scarcity@2-0",
        "minority_scarcity@0.25-1",
    }
    expected |= {f"{stage}@{name}" for stage in ("train_generator", "synthesize", "train_augmented") for name in generators}
    assert set(stages) == expected


def test_each_stage_depends_on_all_code_it_imports(pipeline):
    stages, _, _, _ = pipeline
    missing = {}
    for name, stage in stages.items():
        module, _ = stage_call(stage)
        deps = dep_paths(stage)
        files = {module_file(m).relative_to(ROOT).as_posix(): m for m in transitive_imports(module)}
        uncovered = sorted(f for f in files if _runs_code(ROOT / f) and not covered(f, deps))
        if uncovered:
            missing[name] = uncovered
    assert not missing, f"dvc.yaml: stages import code their deps do not cover: {missing}"


def test_the_import_scan_sees_module_imports_and_the_stages_own_deferred_imports():
    # `from synthaug import tracking` names a module; an import inside a stage's function is code the
    # stage runs; one inside a library function (generator_class picks one generator) is not followed.
    imports = transitive_imports("synthaug.stages.train_generator")
    assert {"synthaug.tracking", "synthaug.generators", "synthaug.generators.base", "synthaug.io"} <= imports
    assert "synthaug.evaluation.formatting" in imports  # imported inside train_generator.main
    assert "synthaug.generators.ddpm" not in imports
    assert "synthaug.stages.report" not in imports


def test_each_stage_declares_every_path_it_writes_and_depends_on_every_path_it_reads(pipeline):
    stages, _, _, _ = pipeline
    for name, stage in stages.items():
        _, args = stage_call(stage)
        outs = {str(out.def_path): out for out in stage.outs}
        deps = dep_paths(stage)
        written = {key: str(getattr(args, key)) for key in OUTPUT_ARGUMENTS if getattr(args, key, None) is not None}
        for key, path in written.items():
            assert path in outs, f"{name}: writes {path} (--{key}) but dvc.yaml does not declare it"
        assert outs[written["metrics"]].metric, f"{name}: {written['metrics']} should be declared under metrics"
        if "plots" in written:
            assert outs[written["plots"]].plot, f"{name}: {written['plots']} should be declared under plots"
        assert set(outs) == set(written.values()), f"{name}: declares outputs it is not told to write"
        read = [
            str(value)
            for key, value in vars(args).items()
            if isinstance(value, Path) and key not in (*OUTPUT_ARGUMENTS, "params")
        ]
        for path in read:
            assert overlaps(path, deps), f"{name}: reads {path} but does not depend on it"


def test_stages_write_only_where_their_arguments_say(pipeline):
    # Paths a stage writes come from its arguments (so dvc.yaml can declare them); a literal output
    # path inside a stage module would be a file DVC neither tracks nor removes before a re-run. The
    # arguments' own defaults (in `add_arguments`) are where such paths belong.
    stages, _, _, _ = pipeline
    for module in {stage_call(stage)[0] for stage in stages.values()}:
        tree = ast.parse(module_file(module).read_text())
        arguments = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "add_arguments"]
        declared = {id(node) for function in arguments for node in ast.walk(function)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in declared:
                assert not node.value.startswith(("outputs/", "plots/", "reports/", "metrics/")), (
                    f"{module}: hard-coded output path {node.value!r}"
                )


def test_prepare_depends_on_every_adapter_it_can_load_by_name(pipeline):
    # Adapters are imported by name (dataset.adapter), which no import statement shows.
    from synthaug.datasets import ADAPTER_MODULES

    deps = dep_paths(pipeline[0]["prepare"])
    for module in ADAPTER_MODULES.values():
        assert covered(module_file(module).relative_to(ROOT).as_posix(), deps), f"prepare: {module} not in deps"


def test_prepare_and_featurize_depend_on_the_configured_dataset_root_only(pipeline):
    stages, _, _, params = pipeline
    for name in ("prepare", "featurize"):
        deps = dep_paths(stages[name])
        assert params["dataset"]["root"] in deps, f"{name}: should depend on dataset.root"
        assert "data" not in deps, f"{name}: depends on all of data/, not only the configured data set"


def test_figures_and_plot_tables_are_declared_plots(pipeline):
    stages, plots, _, _ = pipeline
    plot_outs = {str(out.def_path) for stage in stages.values() for out in stage.outs if out.plot}
    top_level = set()
    for definition in plots:
        for key, props in definition.items() if isinstance(definition, dict) else [(definition, None)]:
            sources = (props or {}).get("y") if isinstance((props or {}).get("y"), dict) else None
            top_level |= set(sources) if sources else {key}
    # The report's figures and its tables; each classifier's learning curve.
    assert "reports/figures" in top_level
    assert "plots/report" in plot_outs
    assert {f"plots/classifiers/{name.split('@')[-1]}" for name in stages if name.startswith("train_augmented")} <= plot_outs
    assert "plots/classifiers/baseline" in plot_outs
    declared = {str(out.def_path) for stage in stages.values() for out in stage.outs}
    for path in top_level:
        assert covered(path, sorted(declared)), f"dvc.yaml: plot {path} is not written by any stage"


def test_models_and_data_sets_are_declared_artifacts(pipeline):
    stages, _, artifacts, params = pipeline
    declared = sorted(str(out.def_path) for stage in stages.values() for out in stage.outs)
    by_type: dict[str, set[str]] = {}
    for name, artifact in artifacts.items():
        by_type.setdefault(artifact.type, set()).add(artifact.path)
        assert artifact.desc, f"artifact {name}: give it a desc"
        if artifact.path != params["dataset"]["root"]:  # raw data is versioned by data.dvc, not a stage
            assert covered(artifact.path, declared) or any(covered(d, [artifact.path]) for d in declared), (
                f"artifact {name}: {artifact.path} is not written by any stage"
            )
    # The promotion candidates: every classifier run folder and every fitted ensemble.
    assert {"outputs/classifiers", "outputs/ensemble"} <= by_type["model"]
    assert {params["dataset"]["root"], "outputs/prepare/manifest.csv", "outputs/features", "outputs/synthetic"} <= by_type[
        "dataset"
    ]
