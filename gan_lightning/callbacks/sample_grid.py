"""Render G on its fixed noise each epoch: PNG files under samples/ and images to the loggers."""

from __future__ import annotations

import math
from pathlib import Path

import pytorch_lightning as pl
import torch.nn.functional as F
from torch import Tensor
from torchvision.utils import make_grid, save_image

from gan_lightning.atomic import atomic_path
from gan_lightning.callbacks.image_logging import log_image
from gan_lightning.ema import use_averages


def grid_stem(name: str, epoch: int) -> str:
    return f"epoch_{epoch:03d}" if name == "samples" else f"{name}_epoch_{epoch:03d}"


def grid_epoch(path: Path) -> int:
    """The epoch a grid was written after. Order grids by it, not by name: the epoch is padded
    to 3 digits only, so ``epoch_999`` sorts after ``epoch_1000`` by name."""
    return int(Path(path).stem.rsplit("_", 1)[-1])


class SampleGridCallback(pl.Callback):
    """Writes ``<output_dir>/epoch_XXX.png`` (``<name>_epoch_XXX.png`` for extra grids).

    The module provides the images (``grid_images``), so each variant decides what a grid shows
    (one row per class for cGAN, input | translation | reconstruction for CycleGAN). Grids of
    small images are upscaled (nearest neighbour) to at least ``min_image_size`` pixels per image
    so that 8x8 digits are visible.
    """

    def __init__(self, output_dir: str, every_n_epochs: int = 1, min_image_size: int = 32) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.output_dir = Path(output_dir)
        self.every_n_epochs = every_n_epochs
        self.min_image_size = min_image_size

    def render(self, pl_module: pl.LightningModule) -> dict[str, Tensor]:
        """name -> CHW float grid in [0, 1]."""
        grids = {}
        with use_averages(pl_module):  # the average of G, when the run keeps one
            drawn = pl_module.grid_images()
        for name, (images, nrow) in drawn.items():
            images = images.detach().float().cpu()
            scale = math.ceil(self.min_image_size / min(images.shape[-2:]))
            if scale > 1:
                images = F.interpolate(images, scale_factor=scale, mode="nearest")
            grids[name] = make_grid(images, nrow=nrow, normalize=True, value_range=(-1, 1))
        return grids

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        if (epoch + 1) % self.every_n_epochs != 0 and not trainer.fast_dev_run:
            return
        if not trainer.is_global_zero:  # only rank 0 writes files and logs images
            return
        grids = self.render(pl_module)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        for name, grid in grids.items():
            path = self.output_dir / f"{grid_stem(name, epoch)}.png"
            with atomic_path(path) as partial:  # a reader never sees a half-written PNG
                save_image(grid, partial, format="png")
            log_image(trainer.loggers, f"samples/{name}", grid, step=trainer.global_step)
