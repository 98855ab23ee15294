"""The logged means of the step's scalars: ``train/<name>_step`` over each logging window,
``train/<name>_epoch`` over each epoch.

Not through ``self.log`` per step: Lightning's result collection walks each metric's state on
every call, which costs more than a small network's whole step; the means stay on the device
(``RunningMeans``) and a window goes to the loggers as one stacked tensor (one all-reduce under
DDP, one host transfer shared with the non-finite check).
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor

from gan_lightning.training.lightning_adapter import publish_step_metrics
from gan_lightning.training.nonfinite import NonFiniteGuard, Reduce
from gan_lightning.training.running_means import RunningMeans

PROGRESS_BAR_KEYS = ("d_loss", "g_loss")


class StepLogs:
    """The window's means (since the last logged step or the epoch's start) and the epoch's."""

    def __init__(self) -> None:
        self.window = RunningMeans()
        self.epoch = RunningMeans()

    def add(self, scalars: dict[str, Tensor]) -> None:
        packed = RunningMeans.pack(scalars)  # one tensor operation for both means
        self.window.add(packed)
        self.epoch.add(packed)

    def start_epoch(self) -> None:
        # windows start with the epoch, so a run resumed at an epoch boundary logs what the
        # uninterrupted run logged
        self.window.reset()

    def log_window(self, trainer: pl.Trainer, guard: NonFiniteGuard, reduce: Reduce | None) -> None:
        """The window's means (over ranks) to the loggers, ``callback_metrics`` and the
        progress bar; the queued losses are checked in the same host transfer."""
        means = self.window.means()
        self.window.reset()
        names = list(means)
        values = guard.check(torch.stack([means[name].float() for name in names]), reduce)
        window = {f"train/{name}_step": value for name, value in zip(names, values, strict=True)}
        progress = {
            name: window[f"train/{name}_step"] for name in PROGRESS_BAR_KEYS if name in means
        }
        publish_step_metrics(trainer, window, progress)

    def log_epoch(self, module: pl.LightningModule) -> None:
        """``train/<name>_epoch`` to the loggers, ``train/<name>`` for callbacks."""
        means = self.epoch.means()
        self.epoch.reset()
        for suffix, to_logger in (("_epoch", True), ("", False)):
            module.log_dict(
                {f"train/{k}{suffix}": v for k, v in means.items()},
                on_step=False,
                on_epoch=True,
                logger=to_logger,
                sync_dist=True,
            )
