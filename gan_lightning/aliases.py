"""Short command-line names for the shared step's toolkit options.

The toolkit's options live in ``model.training`` so that every variant gets them without a
constructor argument of its own; ``model.r1_gamma`` or ``model/augment=diffaugment`` is
shorter to type. On the command line both spellings work; a config file uses the full one,
and a short key under ``model`` there is one error line naming it.
"""

from __future__ import annotations

from typing import Any

from gan_lightning.errors import UserError
from gan_lightning.overrides import mapped_key, rewrite_keys
from gan_lightning.regularizers import PENALTY_SETTINGS

# short key -> full key (a key and everything under it)
SHORT_KEYS: dict[str, str] = {
    f"model.{name}": f"model.training.{name}" for name in (*PENALTY_SETTINGS, "ema", "augment")
}
# short config group -> full config group
SHORT_GROUPS: dict[str, str] = {"model/augment": "model/training/augment"}


def full_key(key: str) -> str | None:
    """The full name of a short key, group or key under one; None if ``key`` is not short.

    A group chosen into another package (``model/augment@pkg``) keeps its package.
    """
    group, at, package = key.partition("@")
    if group in SHORT_GROUPS:
        return SHORT_GROUPS[group] + at + package
    return mapped_key(key, SHORT_KEYS)


def expand_short_keys(argv: list[str]) -> list[str]:
    """Command-line overrides with the short toolkit names written out in full."""
    return rewrite_keys(argv, full_key)[0]


def check_no_short_keys(cfg: Any) -> None:
    """Raise one UserError line when a config file (or a dict override of ``model``) sets a
    short name: Hydra would merge it as a key no constructor takes."""
    model = cfg.get("model") if hasattr(cfg, "get") else None
    if model is None or not hasattr(model, "keys"):
        return
    for short, full in SHORT_KEYS.items():
        name = short.partition(".")[2]
        if name in model.keys():
            raise UserError(
                f"config key {short}: write {full} in a config file or a dict override "
                f"(the short name works for single keys on the command line only)"
            )
