"""What the inference commands share: one-line errors, Hydra composition into typed arguments,
atomic outputs."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar, get_args, get_type_hints

from omegaconf import DictConfig, OmegaConf

from gan_lightning.atomic import atomic_path
from gan_lightning.errors import UserError
from gan_lightning.noise import quiet_known_noise

Args = TypeVar("Args")


def run_command(main: Callable[[Sequence[str]], Any], argv: Sequence[str] | None = None) -> None:
    """Runs ``main``; a UserError becomes ``error: ...`` on stderr and exit status 2."""
    quiet_known_noise()
    try:
        main(sys.argv[1:] if argv is None else argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def compose(config_name: str, overrides: Sequence[str]) -> DictConfig:
    """The packaged config with command-line overrides, as ``python -m gan_lightning`` sees it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    try:
        with initialize_config_module("gan_lightning.conf", version_base="1.3"):
            return hydra_compose(config_name, overrides=list(overrides))
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise UserError(f"bad argument: {first_line}") from None


def command_args(kind: type[Args], config_name: str, argv: Sequence[str]) -> Args:
    """``key=value`` arguments over the defaults of ``conf/<config_name>.yaml``, as the dataclass
    ``kind`` (whose fields are the keys, in the order an error lists them).

    Each value is typed by its field before Hydra sees it and handed over quoted, so captions and
    paths with commas, ``|``, quotes or ``${`` arrive as written; the config is read without
    resolving interpolations for the same reason. An unknown key or a mistyped value is one line.
    """
    hints = get_type_hints(kind)
    keys = [field.name for field in fields(kind)]
    overrides = []
    for argument in argv:
        key, sep, raw = argument.partition("=")
        if not sep or key not in hints:
            raise UserError(
                f"bad argument {argument!r}; use key=value with keys: {', '.join(keys)}"
            )
        overrides.append(f"{key}={_hydra_value(_typed(key, raw, hints[key]))}")
    values = OmegaConf.to_container(compose(config_name, overrides), resolve=False)
    assert isinstance(values, dict)
    return kind(**{key: values[key] for key in keys})


def _typed(key: str, raw: str, hint: Any) -> str | int | float | bool:
    """``raw`` as the field's type (``X | None``: X); bools are ``true`` or ``false``."""
    kind = next(t for t in get_args(hint) or (hint,) if t is not type(None))
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        return kind(raw)
    except ValueError:
        raise UserError(f"{key}={raw!r}: expected {kind.__name__}") from None


def _hydra_value(value: str | int | float | bool) -> str:
    """The override text Hydra parses back to exactly ``value``: strings single-quoted, with the
    backslashes before a quote or at the end doubled (Hydra's escaping rule)."""
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, str):
        return repr(value)
    quoted = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    return "'" + re.sub(r"(\\+)$", lambda m: m.group(1) * 2, quoted) + "'"


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
