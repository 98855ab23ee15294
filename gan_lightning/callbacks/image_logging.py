"""Send one image to every logger that accepts images (CSV does not)."""

from __future__ import annotations

from collections.abc import Iterable

from pytorch_lightning.loggers import Logger, TensorBoardLogger
from torch import Tensor


def log_image(loggers: Iterable[Logger], key: str, image: Tensor, step: int) -> None:
    """``image`` is CHW float in [0, 1]."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image, global_step=step)
        elif hasattr(logger, "log_image"):  # WandbLogger and others with the same API
            logger.log_image(key=key, images=[image], step=step)
