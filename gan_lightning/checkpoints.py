"""Rebuild networks from a checkpoint without unpickling code.

Checkpoints carry the resolved run config (``checkpoint["gan_lightning"]["config"]``), so a
network is rebuilt from its ``_target_`` node and gets its weights from the state dict, loaded
with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from gan_lightning.errors import UserError
from gan_lightning.models.adversarial import CHECKPOINT_KEY


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} not found") from None
    except Exception as error:
        raise UserError(f"{path} is not a loadable checkpoint ({type(error).__name__})") from None
    if CHECKPOINT_KEY not in checkpoint or not checkpoint[CHECKPOINT_KEY].get("config"):
        raise UserError(f"{path} was not written by gan-lightning (it has no run config)")
    return checkpoint


def load_network(path: str | Path, name: str = "generator") -> tuple[nn.Module, DictConfig]:
    """The network ``model.<name>`` of a checkpoint in eval mode, and the run config."""
    networks, config = load_networks(path, [name])
    return networks[name], config


def load_networks(
    path: str | Path, names: list[str] | None = None
) -> tuple[dict[str, nn.Module], DictConfig]:
    """Several networks of one checkpoint (read once); ``names`` None: every network it has."""
    checkpoint = load_checkpoint(path)
    config = OmegaConf.create(checkpoint[CHECKPOINT_KEY]["config"])
    stored = {key.split(".", 1)[0] for key in checkpoint["state_dict"]}
    available = [
        k
        for k, v in config.model.items()
        if k in stored and OmegaConf.is_dict(v) and "_target_" in v
    ]
    networks = {}
    for name in available if names is None else names:
        if name not in available:
            hint = ""
            if "generator_ab" in available:
                hint = "; it is an image-to-image model: use python -m gan_lightning.translate"
            raise UserError(
                f"{path} has no network model.{name} (it has {', '.join(available)}){hint}"
            )
        network = instantiate(config.model[name])
        prefix = f"{name}."
        state = {
            k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
        }
        network.load_state_dict(state)
        networks[name] = network.eval()
    return networks, config
