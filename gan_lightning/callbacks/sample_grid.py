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

UNBOUNDED_LAST_EPOCH = 999_999


def grid_stem(name: str, epoch: int, last_epoch: int = 999) -> str:
    """Pads the epoch to as many digits as the run's last epoch has (3 at least), so that a
    name sort of one run's grids is their epoch order: ``epoch_0999`` before ``epoch_1000``."""
    stem = f"epoch_{epoch:0{max(3, len(str(last_epoch)))}d}"
    return stem if name == "samples" else f"{name}_{stem}"


def grid_epoch(path: Path) -> int:
    """The epoch a grid was written after. Order grids from different runs by it, not by name:
    runs of different lengths pad their epochs to different widths."""
    return int(Path(path).stem.rsplit("_", 1)[-1])


def last_epoch_of(trainer: pl.Trainer) -> int:
    """The last epoch the trainer will run; a run bounded by steps alone gets the widest pad."""
    max_epochs = trainer.max_epochs
    return max_epochs - 1 if max_epochs is not None and max_epochs > 0 else UNBOUNDED_LAST_EPOCH


class SampleGridCallback(pl.Callback):
    """Writes ``<output_dir>/epoch_XXX.png`` (``<name>_epoch_XXX.png`` for extra grids), the epoch
    padded to the digits of the run's last epoch (see ``grid_stem``).

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
            path = self.output_dir / f"{grid_stem(name, epoch, last_epoch_of(trainer))}.png"
            with atomic_path(path) as partial:  # a reader never sees a half-written PNG
                save_image(grid, partial, format="png")
            log_image(trainer.loggers, f"samples/{name}", grid, step=trainer.global_step)
