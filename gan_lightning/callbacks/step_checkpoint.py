"""Write ``last.ckpt`` every N training steps, so a pre-empted job loses at most N steps."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from gan_lightning.sizes import PositiveInt

log = logging.getLogger(__name__)


class StepCheckpoint(pl.Callback):
    """Rewrites ``<dirpath>/last.ckpt`` (atomically, like every checkpoint of a run) once at
    least ``every_n_train_steps`` optimizer steps (``trainer.global_step``: a batch with one D
    and one G update counts two) have passed since the last one; null: never. The epoch-end
    checkpoint (``model_checkpoint``) and the one written on a signal (``interruption``) go to
    the same file, so ``ckpt_path=last`` always resumes from the newest.
    """

    def __init__(self, dirpath: str, every_n_train_steps: PositiveInt | None = None) -> None:
        if every_n_train_steps is not None and every_n_train_steps < 1:
            raise ValueError(f"every_n_train_steps must be >= 1 or null, got {every_n_train_steps}")
        self.dirpath = Path(dirpath)
        self.every_n_train_steps = every_n_train_steps
        self.last_saved_step = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.last_saved_step = trainer.global_step  # a resumed run counts from where it was

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        every = self.every_n_train_steps
        if every is None or trainer.fast_dev_run:
            return
        if trainer.global_step - self.last_saved_step < every:
            return
        path = self.dirpath / "last.ckpt"
        state = getattr(pl_module, "checkpoint_state", None)
        if state is not None and trainer.world_size > 1:
            state.gather_rank_rng(trainer.global_step)  # every rank is at this batch: exact resume
        # the whole state (weights_only=False: optimizers, loops, callbacks); only rank 0 writes,
        # and every rank must call it under DDP
        trainer.save_checkpoint(path, weights_only=False)
        self.last_saved_step = trainer.global_step
        log.debug("saved %s at step %d", path, trainer.global_step)
