"""Rewriting keys of Hydra command-line overrides before Hydra parses them."""

from __future__ import annotations

from collections.abc import Callable


def split_override(override: str) -> tuple[str, str, str]:
    """``++model.d_steps=5`` -> (``++``, ``model.d_steps``, ``=5``)."""
    prefix = override[: len(override) - len(override.lstrip("+~"))]
    rest = override[len(prefix) :]
    key, eq, value = rest.partition("=")
    return prefix, key, eq + value


def mapped_key(key: str, table: dict[str, str]) -> str | None:
    """``key`` with the table's key it equals or lies under replaced; None if none matches."""
    for old, new in table.items():
        if key == old or key.startswith(old + "."):
            return new + key[len(old) :]
    return None


def rewrite_keys(
    argv: list[str], rename: Callable[[str], str | None]
) -> tuple[list[str], list[tuple[str, str]]]:
    """The overrides with each key ``rename`` maps rewritten, and the (old, new) keys rewritten.

    Hydra's own flags (``-m``, ``--cfg job``) pass through.
    """
    rewritten, changed = [], []
    for arg in argv:
        prefix, key, value = split_override(arg)
        new = rename(key) if not arg.startswith("-") else None
        if new is None:
            rewritten.append(arg)
            continue
        changed.append((key, new))
        rewritten.append(f"{prefix}{new}{value}")
    return rewritten, changed
