"""Short command-line names for the shared step's toolkit options.

The toolkit's options live in ``model.training`` so that every variant gets them without a
constructor argument of its own; papers and most users say
``model.r1_gamma`` or ``model/augment=diffaugment``. On the command line both spellings work;
a config file uses the full one and is told so in one line.
"""

from __future__ import annotations

from typing import Any

from gan_lightning.errors import UserError
from gan_lightning.overrides import mapped_key, rewrite_keys

# short key -> full key (a key and everything under it)
SHORT_KEYS: dict[str, str] = {
    f"model.{name}": f"model.training.{name}"
    for name in ("gp_weight", "gp_one_sided", "r1_gamma", "r1_every", "ema", "augment")
}
# short config group -> full config group
SHORT_GROUPS: dict[str, str] = {"model/augment": "model/training/augment"}


def full_key(key: str) -> str | None:
    """The full name of a short key, group or key under one; None if ``key`` is not short."""
    return SHORT_GROUPS.get(key) or mapped_key(key, SHORT_KEYS)


def expand_short_keys(argv: list[str]) -> list[str]:
    """Command-line overrides with the short toolkit names written out in full."""
    return rewrite_keys(argv, full_key)[0]


def check_no_short_keys(cfg: Any) -> None:
    """A config file (an experiment, a user's model file) that set a short name."""
    model = cfg.get("model") if hasattr(cfg, "get") else None
    if model is None or not hasattr(model, "keys"):
        return
    for short, full in SHORT_KEYS.items():
        name = short.partition(".")[2]
        if name in model.keys():
            raise UserError(
                f"config key {short} is written {full} in a config file "
                f"(the short name works on the command line only)"
            )
