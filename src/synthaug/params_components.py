"""The keys of docs/parameters.md that belong to components rather than to the params types: an
adapter's options, a demo set's sizes, a generator's hyperparameters, a classifier architecture's
options and the classic augmentations. Each is read from its component (a function signature or a
pydantic model), with descriptions from the comments beside them in the source.
synthaug.params_reference renders them while their keys are untyped mappings in the params types.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
import tokenize
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel


@dataclasses.dataclass(frozen=True)
class OpenSection:
    """A mapping-typed key whose inner keys a component defines: one table per variant."""

    key: str
    intro: str
    variants: Callable[[], dict[str, list[tuple[str, Any]]]]  # variant name -> [(option, default)]
    variant_in_key: bool  # true: `key.<variant>.<option>` (a generator); false: `key.<option>` (an adapter)
    mappings: tuple[str, ...]  # the untyped mapping keys of the params types this documents
    # variant name -> {option: description}, from the component's source; params.yaml's comments fill the rest
    descriptions: Callable[[], dict[str, dict[str, str]]] | None = None


def _adapter_options() -> dict[str, list[tuple[str, Any]]]:
    from synthaug.datasets import ADAPTERS

    return {name: _signature_defaults(load, skip=("root",)) for name, load in sorted(ADAPTERS.items())}


def _adapter_descriptions() -> dict[str, dict[str, str]]:
    from synthaug.datasets import ADAPTERS

    return {name: signature_comments(load) for name, load in sorted(ADAPTERS.items())}


def _demo_descriptions() -> dict[str, dict[str, str]]:
    from synthaug.datasets.demo import write_cough_demo, write_machine_demo

    return {"cough": signature_comments(write_cough_demo), "machine": signature_comments(write_machine_demo)}


def signature_comments(function: object) -> dict[str, str]:
    """The comment on each parameter's line of a function's signature (`    name: type = value,  # ...`)."""
    source = inspect.getsource(typing.cast(Callable[..., Any], function))
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    found = {}
    for number, line in enumerate(source.splitlines(), start=1):
        if line.startswith(")") or line.rstrip().endswith(":") and number > 1:
            break  # the end of the signature
        match = re.match(r"\s+(\w+)\s*[:=]", line)
        if match and number in comments:
            found[match.group(1)] = comments[number]
    return found


def _demo_options() -> dict[str, list[tuple[str, Any]]]:
    from synthaug.datasets.demo import write_cough_demo, write_machine_demo

    skip = ("out_dir", "seed")  # the stage passes the folder and demo.seed
    return {
        "cough": _signature_defaults(write_cough_demo, skip=skip),
        "machine": _signature_defaults(write_machine_demo, skip=skip),
    }


def _generator_options() -> dict[str, list[tuple[str, Any]]]:
    from synthaug.generator_configs import GENERATOR_CONFIGS

    return {name: sorted(model().model_dump().items()) for name, model in GENERATOR_CONFIGS.items()}


def _generator_descriptions() -> dict[str, dict[str, str]]:
    from synthaug.generator_configs import GENERATOR_CONFIGS

    return {name: field_comments(model) for name, model in GENERATOR_CONFIGS.items()}


def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment in the class body: the comment on its line, else the block just above.

    pydantic keeps no comments, and config.py documents its keys in comments beside them; reading
    them from the source (with the standard library's tokenizer) keeps one home for each description.
    """
    inherited: dict[str, str] = {}
    for base in model.__mro__[1:]:  # fields a parent section declares carry the parent's comments
        if isinstance(base, type) and issubclass(base, BaseModel) and base is not BaseModel:
            inherited = field_comments(base) | inherited
    try:
        source = inspect.cleandoc("\n" + inspect.getsource(model))
    except (OSError, TypeError):
        return inherited
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in (
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
            tokenize.COMMENT,
        ):
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    lines = source.splitlines()
    found: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        match = re.match(r"    (\w+)\s*:", line)  # a field at class-body level: `    name: type = ...`
        if not match or match.group(1) not in model.model_fields:
            continue
        end = number
        while end + 1 <= len(lines) and lines[end].startswith("     "):  # continuation lines
            end += 1
        trailing = [comments[n] for n in range(number, end + 1) if n in comments and n in code_lines]
        above: list[str] = []
        n = number - 1
        while n in comments and n not in code_lines:
            above.insert(0, comments[n])
            n -= 1
        text = " ".join(trailing) or " ".join(above)
        text = re.sub(r"^type: ignore\[[^\]]*\]\s*#?\s*", "", text).strip()
        found[match.group(1)] = text
    return inherited | {name: text for name, text in found.items() if text}


def _architecture_options() -> dict[str, list[tuple[str, Any]]]:
    from synthaug.classifier_configs import ARCHITECTURE_CONFIGS

    return {
        name: [("architecture", name), *sorted(config.model_validate({"architecture": name}).options().items())]
        for name, config in ARCHITECTURE_CONFIGS.items()
    }


def _architecture_descriptions() -> dict[str, dict[str, str]]:
    from synthaug.classifier_configs import ARCHITECTURE_CONFIGS

    return {
        name: {**field_comments(config), "architecture": f"the network: {(config.__doc__ or name).strip().splitlines()[0]}"}
        for name, config in ARCHITECTURE_CONFIGS.items()
    }


def _augment_descriptions() -> dict[str, dict[str, str]]:
    from synthaug.augment_configs import AUGMENTATION_CONFIGS

    return {name: field_comments(config) for name, config in AUGMENTATION_CONFIGS.items()}


def _augment_options() -> dict[str, list[tuple[str, Any]]]:
    from synthaug.augment_configs import AUGMENTATION_CONFIGS

    return {
        name: sorted(((key, f.default) for key, f in config.model_fields.items()), key=lambda option: option[0] == "p")
        for name, config in AUGMENTATION_CONFIGS.items()
    }


def _signature_defaults(function: object, skip: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [
        (name, None if p.default is inspect.Parameter.empty else p.default)
        for name, p in inspect.signature(typing.cast(Callable[..., Any], function)).parameters.items()
        if name not in skip
    ]


OPEN_SECTIONS = (
    OpenSection(
        "dataset.options",
        "The options of each adapter (`dataset.adapter`): the keyword arguments "
        "of its `load` function in `synthaug.datasets`; an unknown option stops prepare.",
        _adapter_options,
        False,
        ("dataset.options",),
        _adapter_descriptions,
    ),
    OpenSection(
        "demo",
        "Sizes of each built-in demo set: the keyword arguments of "
        "`synthaug.datasets.demo.write_cough_demo` and `write_machine_demo`.",
        _demo_options,
        True,
        ("demo.cough", "demo.machine"),
        _demo_descriptions,
    ),
    OpenSection(
        "train_generator.models",
        "Each generator's hyperparameters and their defaults (the "
        "published recipe); an entry under `train_generator.models` overrides any of them, and "
        "an unknown key stops the stage. Removing an entry removes its stage chain.",
        _generator_options,
        True,
        ("train_generator.models",),
        _generator_descriptions,
    ),
    OpenSection(
        "train_classifier.model",
        "`architecture` and that architecture's options.",
        _architecture_options,
        False,
        ("train_classifier.model",),
        _architecture_descriptions,
    ),
    OpenSection(
        "train_classifier.augment",
        "Classic augmentation (the same keys under `scarcity.augment`): "
        "each listed transform with its options (`true`: the defaults; left out, null or false: "
        "off), applied in the order gain, time shift, frequency mask, time mask, mixup.",
        _augment_options,
        True,
        ("train_classifier.augment", "scarcity.augment"),
        _augment_descriptions,
    ),
)
