"""Save a checkpoint when the run is interrupted (Ctrl-C, or SIGTERM before a pre-emption)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from gan_lightning.training.lightning_adapter import stop_after_this_batch

log = logging.getLogger(__name__)


class InterruptionCheckpoint(pl.Callback):
    """On SIGINT / SIGTERM writes ``<dirpath>/last.ckpt`` (atomically), so ``ckpt_path=last``
    resumes from the interrupted step. Other exceptions (a crash, divergence) save nothing: the
    last good checkpoint stays as it was.

    Both stop at the end of the current batch, so the checkpoint is one the uninterrupted run
    passed through and a resume continues it exactly: SIGTERM through Lightning (SLURM sends it
    before pre-empting or at the time limit; ``--signal`` gives the job the time to save), the
    first Ctrl-C through the same path (a second one stops at once). A run stopped before its
    first update saves nothing, so a good ``last.ckpt`` is never replaced by an untrained model.
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None
        self.signal_name: str | None = None
        self.start_step: int | None = None  # global_step when training started
        self.previous_sigint: Any = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start_step = trainer.global_step
        if threading.current_thread() is threading.main_thread():
            self.previous_sigint = signal.getsignal(signal.SIGINT)

            def finish_the_batch(signum: int, frame: FrameType | None) -> None:
                self.signal_name = "SIGINT"
                stop_after_this_batch(trainer)
                self.restore_sigint()  # a second Ctrl-C interrupts at once

            signal.signal(signal.SIGINT, finish_the_batch)

    def restore_sigint(self) -> None:
        if self.previous_sigint is not None:
            signal.signal(signal.SIGINT, self.previous_sigint)
            self.previous_sigint = None

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.restore_sigint()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self.restore_sigint()
        if isinstance(exception, KeyboardInterrupt):
            self.signal_name = "SIGINT"
        elif isinstance(exception, SIGTERMException):
            self.signal_name = self.signal_name or "SIGTERM"  # SIGINT when it came from Ctrl-C
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
