"""What the inference commands share: one-line errors, Hydra composition, atomic outputs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gan_lightning.atomic import atomic_path
from gan_lightning.errors import UserError


def run_command(main: Callable[[Sequence[str]], Any], argv: Sequence[str] | None = None) -> None:
    """Runs ``main``; a UserError becomes ``error: ...`` on stderr and exit status 2."""
    try:
        main(sys.argv[1:] if argv is None else argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def parse_key_values(
    argv: Sequence[str], spec: dict[str, type], defaults: dict[str, Any]
) -> dict[str, Any]:
    """``key=value`` arguments typed by ``spec`` (str, int, float, bool); one line per mistake."""
    values = dict(defaults)
    for argument in argv:
        key, sep, raw = argument.partition("=")
        if not sep or key not in spec:
            raise UserError(
                f"bad argument {argument!r}; use key=value with keys: {', '.join(spec)}"
            )
        kind = spec[key]
        try:
            if kind is bool:
                if raw.lower() not in ("true", "false"):
                    raise ValueError
                values[key] = raw.lower() == "true"
            else:
                values[key] = kind(raw)
        except ValueError:
            raise UserError(f"{key}={raw!r}: expected {kind.__name__}") from None
    return values


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


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
