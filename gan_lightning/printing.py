"""Show the resolved config as a rich tree, one branch per group."""

from __future__ import annotations

from collections.abc import Sequence

import rich
import rich.syntax
import rich.tree
from omegaconf import DictConfig, OmegaConf

GROUP_ORDER = ("model", "data", "trainer", "logger", "callbacks", "paths")


def print_config_tree(cfg: DictConfig, order: Sequence[str] = GROUP_ORDER) -> None:
    tree = rich.tree.Tree("config", style="bold")
    keys = [k for k in order if k in cfg] + [k for k in cfg if k not in order]
    for key in keys:
        branch = tree.add(str(key), style="bold cyan")
        value = cfg[key]
        text = (
            OmegaConf.to_yaml(value, resolve=True) if OmegaConf.is_config(value) else f"{value!r}\n"
        )
        branch.add(rich.syntax.Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    rich.print(tree)
