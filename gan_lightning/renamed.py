"""Config keys and values renamed in 0.2: old command lines keep working for one minor version
with a deprecation line; a config file or checkpoint with an old key is upgraded or named."""

from __future__ import annotations

import copy
import logging
import sys
from typing import Any

from gan_lightning.errors import UserError
from gan_lightning.overrides import mapped_key, rewrite_keys

log = logging.getLogger(__name__)

# old key -> new key (a key and everything under it)
RENAMED_KEYS: dict[str, str] = {
    **{
        f"model.{name}": f"model.training.{name}"
        for name in (
            "optimizer",
            "d_optimizer",
            "scheduler",
            "d_steps",
            "g_grad_clip",
            "d_grad_clip",
            "on_nonfinite",
        )
    },
    **{
        f"data.{name}": f"data.loader.{name}"
        for name in ("batch_size", "num_workers", "pin_memory")
    },
}
# the nodes the renamed keys moved into, for configs saved before they existed
NEW_NODES = {
    "model.training": "gan_lightning.training.options.TrainingOptions",
    "data.loader": "gan_lightning.data.loading.LoaderOptions",
}
# config value renamed: (key suffix, old value) -> new value
RENAMED_VALUES: dict[tuple[str, str], str] = {("design", "seed"): "course"}
REMOVED_IN = "0.3"


def new_key(key: str) -> str | None:
    """The current name of a renamed key (or of a key under one), None if not renamed."""
    return mapped_key(key, RENAMED_KEYS)


def upgrade_overrides(argv: list[str]) -> list[str]:
    """Command-line overrides with renamed keys rewritten, one deprecation line for each."""
    upgraded, changed = rewrite_keys(argv, new_key)
    for old, new in changed:
        print(
            f"deprecated: {old} is now {new} (the old name stops working in {REMOVED_IN})",
            file=sys.stderr,
        )
    return upgraded


def check_no_renamed_keys(cfg: Any) -> None:
    """A config file (an experiment, a user's own group file) still using a renamed key."""
    for old, new in RENAMED_KEYS.items():
        group, _, name = old.partition(".")
        node = cfg.get(group) if hasattr(cfg, "get") else None
        if node is not None and hasattr(node, "keys") and name in node.keys():
            raise UserError(f"config key {old} is now {new}; rename it in your config file")


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run config saved by 0.1 (in a checkpoint) in today's layout."""
    config = copy.deepcopy(config)
    for old, new in RENAMED_KEYS.items():
        group, _, name = old.partition(".")
        node = config.get(group)
        if isinstance(node, dict) and name in node:
            _, _, new_name = new.partition(".")
            parent, _, leaf = new_name.rpartition(".")
            target = NEW_NODES[f"{group}.{parent}"]
            node.setdefault(parent, {"_target_": target})[leaf] = node.pop(name)
    _upgrade_values(config)
    return config


def _upgrade_values(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and (key, value) in RENAMED_VALUES:
                node[key] = RENAMED_VALUES[(key, value)]
            else:
                _upgrade_values(value)
    elif isinstance(node, list):
        for item in node:
            _upgrade_values(item)


def renamed_value(key: str, value: str) -> str:
    """The current spelling of a config value, with a deprecation line for an old one."""
    current = RENAMED_VALUES.get((key.rpartition(".")[2], value))
    if current is None:
        return value
    log.warning(
        "deprecated: %s=%s is now %s=%s (the old value stops working in %s)",
        key,
        value,
        key,
        current,
        REMOVED_IN,
    )
    return current
