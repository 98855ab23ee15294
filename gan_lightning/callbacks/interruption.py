"""Save a checkpoint when the run is interrupted (Ctrl-C, or SIGTERM before a pre-emption)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


class InterruptionCheckpoint(pl.Callback):
    """On SIGINT / SIGTERM writes ``<dirpath>/last.ckpt`` (atomically), so ``ckpt_path=last``
    resumes from the interrupted step. Other exceptions (a crash, divergence) save nothing: the
    last good checkpoint stays as it was.

    SIGTERM is caught by Lightning, which stops at the end of the current batch; SLURM sends it
    before pre-empting or at the time limit (``--signal`` gives the job the time to save).
    A run stopped before its first update saves nothing, so a good ``last.ckpt`` is never
    replaced by an untrained model. The checkpoint is mid-epoch: resuming from it continues
    the run, but not bit for bit (see README, Long runs).
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None
        self.signal_name: str | None = None
        self.start_step: int | None = None  # global_step when training started

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start_step = trainer.global_step

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self.signal_name = "SIGINT"
        elif isinstance(exception, SIGTERMException):
            self.signal_name = "SIGTERM"
        else:
            return
        if self.start_step is None or trainer.global_step <= self.start_step:
            # stopped while setting up or restoring: the checkpoint on disk is still the newest
            log.info("interrupted by %s before any update: nothing to save", self.signal_name)
            return
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path)  # only rank 0 writes; every rank must call it under DDP
        self.saved = path
        log.info("interrupted by %s: saved %s", self.signal_name, path)
