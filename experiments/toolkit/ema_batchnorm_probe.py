"""Score a checkpoint's average of G with BatchNorm statistics copied from the raw G (what the
project does), re-estimated for the averaged weights, or the raw G (section 1b of the README).

    python experiments/toolkit/ema_batchnorm_probe.py copied|reestimated|raw \\
        ckpt=PATH metric=fcd n=2000 metrics.feature_dir=FEATURES [out=FILE]

The arguments after the mode are ``python -m gan_lightning.evaluate``'s; only the loading of the
generator changes: "reestimated" resets the average's BatchNorm statistics and accumulates them
over 40 batches of 64 samples of the averaged G in training mode (BigGAN's standing statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

import gan_lightning.evaluate as evaluate
from gan_lightning.commands import run_command
from gan_lightning.errors import UserError
from gan_lightning.sampling import Sampler

MODES = ("copied", "reestimated", "raw")


def reestimate_batchnorm(generator: nn.Module, run_config: Any, batches: int = 40) -> None:
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches
    sampler = Sampler.from_config(generator, run_config)
    noise = torch.Generator().manual_seed(123)
    generator.train()
    with torch.no_grad():
        for _ in range(batches):
            generator(sampler.latent(64, noise))
    generator.eval()


def main(argv: Sequence[str]) -> None:
    if not argv or argv[0] not in MODES:
        raise UserError(f"give the mode first: one of {', '.join(MODES)}")
    mode, load_networks = argv[0], evaluate.load_networks

    def load(path: str, ema: bool = True) -> tuple[dict[str, Any], Any]:
        networks, run_config = load_networks(path, ema=mode != "raw")
        if mode == "reestimated":
            reestimate_batchnorm(networks["generator"], run_config)
        return networks, run_config

    evaluate.load_networks = load
    evaluate.main(argv[1:])


if __name__ == "__main__":
    run_command(main)
