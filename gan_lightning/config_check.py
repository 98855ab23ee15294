"""Check every ``_target_`` node against its constructor before anything is built.

Hydra's struct mode already rejects overrides of keys that do not exist; this catches the rest
with one line naming the key: arguments the constructor does not take (``+model.lrr=1``) and
values of the wrong type for plainly annotated arguments (``trainer.max_epochs=abc``), and
sizes or counts annotated ``PositiveInt`` (``sizes.py``) that are not (``model.latent_dim=0``).
"""

from __future__ import annotations

import enum
import inspect
import os
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from gan_lightning.aliases import check_no_short_keys
from gan_lightning.errors import UserError
from gan_lightning.renamed import check_no_renamed_keys

_SCALARS = (bool, int, float, str)
FITTING_DATA = {
    "images": "an image set such as data=digits, mnist, svhn, cifar10 or celeba",
    "points": "data=ring or data=grid",
    "unpaired": "data=summer2winter or data=unpaired data.root=DIR",
    "paired": "data=paired data.root=DIR, data=facades, data=colorize or data=edges2digits",
    "captioned": "data=digit_captions or data=captions data.root=DIR",
}


def check_config(cfg: DictConfig) -> None:
    check_no_renamed_keys(cfg)
    check_no_short_keys(cfg)
    _check_model_fits_data(cfg)
    for path, node in _target_nodes(cfg, ""):
        _check_node(path, node)


def _check_model_fits_data(cfg: DictConfig) -> None:
    """The batches a model trains on must be what the data module yields.

    Classes declare ``data_kind`` ("images" unless set: "points", "unpaired") and a model with
    ``requires_labels`` needs a data set with ``num_classes``.
    """
    model, data = cfg.get("model"), cfg.get("data")
    if not model or not data or "_target_" not in model or "_target_" not in data:
        return
    try:
        model_class = get_object(model._target_)
        data_class = get_object(data._target_)
    except Exception:
        return  # reported with its key by _check_node
    model_kind = getattr(model_class, "data_kind", "images")
    data_kind = getattr(data_class, "data_kind", "images")
    if model_kind != data_kind:
        raise UserError(
            f"{model_class.__name__} trains on {model_kind}, but {data_class.__name__} yields "
            f"{data_kind}; use {FITTING_DATA.get(model_kind, 'a matching data set')}"
        )
    if getattr(model_class, "requires_labels", False) and not data.get("num_classes"):
        raise UserError(
            f"{model_class.__name__} needs class labels, but {data._target_.rsplit('.', 1)[-1]} "
            "has none (data.num_classes is null); use a labelled set such as data=mnist, "
            "data=digits or data=svhn"
        )


def _target_nodes(node: Any, path: str) -> Iterator[tuple[str, DictConfig]]:
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
        for key in node:
            yield from _target_nodes(node._get_node(key), f"{path}.{key}" if path else str(key))
    elif isinstance(node, ListConfig):
        for index in range(len(node)):
            yield from _target_nodes(node._get_node(index), f"{path}[{index}]")


def _check_node(path: str, node: DictConfig) -> None:
    name = node._target_
    try:
        target = get_object(name)
    except Exception:
        raise UserError(f"{path}._target_: cannot import {name!r}; check the spelling") from None
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    hints = _type_hints(target)
    for key in node:
        key = str(key)
        if key.startswith("_"):
            continue
        if key not in params:
            if takes_any:
                continue
            allowed = ", ".join(k for k in params if k not in ("self", "args", "kwargs"))
            raise UserError(f"{path}.{key}: {name} takes no argument {key!r}; allowed: {allowed}")
        if OmegaConf.is_missing(node, key):
            raise UserError(f"{path}.{key}: a value is required (it is ???)")
        value = node[key]
        expected = hints.get(key, inspect.Parameter.empty)
        if isinstance(value, ListConfig):  # e.g. hidden_dims: list[PositiveInt]
            items = _resolved(value)
            problem = _broken_constraint(items, expected)
            if problem:
                raise UserError(f"{path}.{key}: {problem}, got {items!r}")
        if OmegaConf.is_config(value):
            continue
        if not _matches(value, expected):
            raise UserError(f"{path}.{key}: expected {_describe(expected)}, got {value!r}")
        problem = _broken_constraint(value, expected)
        if problem:
            raise UserError(f"{path}.{key}: {problem}, got {value!r}")


def _resolved(value: ListConfig) -> list | None:
    try:
        return OmegaConf.to_container(value, resolve=True)
    except Exception:  # an interpolation only the running app can resolve (${hydra:...})
        return None


def _broken_constraint(value: Any, expected: Any) -> str | None:
    """What a value breaks of its annotation's constraints (``Positive``), or None."""
    origin = typing.get_origin(expected)
    if origin is typing.Annotated:
        base, *constraints = typing.get_args(expected)
        for constraint in constraints:
            problem = getattr(constraint, "problem", None)
            if problem is not None and value is not None and _matches(value, base):
                found = problem(value)
                if found:
                    return found
        return None
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(expected):
            if _matches(value, arg):
                return _broken_constraint(value, arg)
        return None
    if isinstance(value, (list, tuple)) and origin in (list, tuple, Sequence):
        args = [a for a in typing.get_args(expected) if a is not Ellipsis]
        for item in value:
            found = _broken_constraint(item, args[0]) if args else None
            if found:
                return f"each item {found}"
    return None


def _type_hints(target: Any) -> dict[str, Any]:
    function = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:  # unresolvable forward references: skip type checks for this target
        return {}


def _matches(value: Any, expected: Any) -> bool:
    if expected is inspect.Parameter.empty or expected is Any:
        return True
    origin = typing.get_origin(expected)
    if origin is typing.Annotated:
        return _matches(value, typing.get_args(expected)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(_matches(value, arg) for arg in typing.get_args(expected))
    if origin is typing.Literal:
        return value in typing.get_args(expected)
    if expected is type(None):
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, str)
    if inspect.isclass(expected) and typing.get_origin(expected) is None:
        # A plain config value can only stand for another class when it is a path or enum name.
        lenient = isinstance(value, str) and issubclass(expected, (os.PathLike, enum.Enum))
        return lenient or isinstance(value, expected)
    return True  # generic containers, callables: left to the constructor


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin is typing.Annotated:
        return _describe(typing.get_args(expected)[0])
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_describe(arg) for arg in typing.get_args(expected))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(expected))
    if expected is type(None):
        return "null"
    return getattr(expected, "__name__", str(expected))
