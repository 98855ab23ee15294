"""A warning at the start of training for an epoch cadence that this run never reaches.

Grids, checkpoints and evaluation come every N epochs, and an epoch's length depends on the
data (``data.limit``, the batch size): a cadence chosen for 100 images, where an epoch is one
batch, never comes due at 1,000 images within the same ``max_steps``, and the run would end
without a checkpoint or a score. Said at the start, not discovered at the end.
"""

from __future__ import annotations

import logging
import math

import pytorch_lightning as pl

log = logging.getLogger(__name__)


def batches_for_steps(max_steps: int, d_steps: int) -> int:
    """Batches until ``trainer.global_step`` reaches ``max_steps``: every batch makes one D
    step and every ``d_steps``-th batch one G step too."""
    batches = math.ceil(max_steps * d_steps / (d_steps + 1))
    while batches + batches // d_steps < max_steps:
        batches += 1
    while batches > 0 and (batches - 1) + (batches - 1) // d_steps >= max_steps:
        batches -= 1
    return batches


def final_epoch(trainer: pl.Trainer, d_steps: int) -> int | None:
    """The number of epochs this run ends after (its last epoch index + 1), from
    ``max_epochs`` and ``max_steps``; None when it has no end or its epochs no known length."""
    ends = []
    if trainer.max_epochs is not None and trainer.max_epochs >= 0:
        ends.append(trainer.max_epochs)
    per_epoch = trainer.num_training_batches
    if trainer.max_steps > 0 and math.isfinite(per_epoch) and per_epoch > 0:
        ends.append(math.ceil(batches_for_steps(trainer.max_steps, d_steps) / per_epoch))
    return min(ends) if ends else None


class EpochCadenceCheck(pl.Callback):
    """``cadences``: config key -> its ``every_n_epochs`` (e.g. ``callbacks.evaluation``: 500).
    A callback fires after epoch e when (e + 1) is a multiple of its N."""

    def __init__(self, cadences: dict[str, int]) -> None:
        self.cadences = cadences

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.fast_dev_run or not trainer.is_global_zero:
            return
        options = getattr(pl_module, "training_options", None)
        end = final_epoch(trainer, getattr(options, "d_steps", 1))
        first = trainer.current_epoch
        if end is None or end <= first:
            return
        for key, every in self.cadences.items():
            if end // every == first // every:  # no multiple of N in epochs first + 1 .. end
                log.warning(  # any end - first consecutive epochs hold a multiple of that
                    "%s.every_n_epochs=%d never comes due: this run ends after epoch %d "
                    "(%d batches an epoch); set %s.every_n_epochs to at most %d",
                    key, every, end, trainer.num_training_batches, key, end - first,
                )  # fmt: skip
