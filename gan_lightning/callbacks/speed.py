"""GPU speed options that change how the networks run, not what they compute.

A callback rather than model arguments so every variant gets them unchanged: it acts on the
networks of whatever module it is given, before Lightning wraps them for DDP.
"""

from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch
from torch import nn

log = logging.getLogger(__name__)


class SpeedOptions(pl.Callback):
    """``channels_last``: 4-D weights in NHWC layout, which tensor-core convolutions prefer
    (the first convolution converts its input). ``compile``: ``torch.compile`` each network in
    place (``nn.Module.compile``: the state-dict keys and checkpoints do not change); the first
    steps pay the compilation."""

    def __init__(self, channels_last: bool = False, compile: bool = False) -> None:
        self.channels_last = channels_last
        self.compile = compile

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if self.channels_last:
            pl_module.to(memory_format=torch.channels_last)
        if self.compile:
            networks = [m for m in pl_module.children() if any(True for _ in m.parameters())]
            for network in networks:
                network.compile()
            names = ", ".join(type(n).__name__ for n in networks)
            log.info("compiling %s with torch.compile (the first steps are slow)", names)


def is_channels_last(module: nn.Module) -> bool:
    """Every 4-D parameter in NHWC layout (True for a module without any)."""
    return all(
        p.is_contiguous(memory_format=torch.channels_last)
        for p in module.parameters()
        if p.ndim == 4
    )
