"""Save a checkpoint when the run is interrupted (Ctrl-C, SIGTERM, or SLURM's warning before
a pre-emption or the time limit)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from gan_lightning.requeue import submitit_requeue_handler
from gan_lightning.training.lightning_adapter import stop_after_this_batch

log = logging.getLogger(__name__)


class InterruptionCheckpoint(pl.Callback):
    """On SIGINT / SIGTERM writes ``<dirpath>/last.ckpt`` (atomically), so ``ckpt_path=last``
    resumes from the interrupted step. Other exceptions (a crash, divergence) save nothing: the
    last good checkpoint stays as it was.

    Every signal stops at the end of the current batch, so the checkpoint is one the
    uninterrupted run passed through and a resume continues it exactly: SIGTERM through
    Lightning (SLURM sends it before pre-empting), the first Ctrl-C through the same path (a
    second one stops at once), and in a submitit job its requeue signal, whose requeue then
    waits for the checkpoint (``gan_lightning/requeue.py``; ``requeue`` is called by train.py).
    A run stopped before its first update saves nothing, so a good ``last.ckpt`` is never
    replaced by an untrained model.
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None
        self.signal_name: str | None = None
        self.start_step: int | None = None  # global_step when training started
        self.replaced: dict[int, Any] = {}  # signal -> the handler it had before training
        self.requeue: Callable[[], None] | None = None  # set when submitit's signal came

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start_step = trainer.global_step
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set there
        self.stop_gracefully_on(signal.SIGINT, trainer)
        submitit = submitit_requeue_handler()
        if submitit is not None:
            signum, requeue = submitit
            self.stop_gracefully_on(signum, trainer, lambda: requeue(signum, None))

    def stop_gracefully_on(
        self, signum: int, trainer: pl.Trainer, then: Callable[[], None] | None = None
    ) -> None:
        """On ``signum``: stop after this batch, and leave ``then`` (a requeue) for train.py."""
        self.replaced[signum] = signal.getsignal(signum)

        def finish_the_batch(received: int, frame: FrameType | None) -> None:
            self.signal_name = signal.Signals(received).name
            self.requeue = then
            stop_after_this_batch(trainer)
            self.restore_handlers()  # a second Ctrl-C interrupts at once

        signal.signal(signum, finish_the_batch)

    def restore_handlers(self) -> None:
        for signum, handler in self.replaced.items():
            if handler is not None:
                signal.signal(signum, handler)
        self.replaced = {}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.restore_handlers()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self.restore_handlers()
        if isinstance(exception, KeyboardInterrupt):
            self.signal_name = "SIGINT"
        elif isinstance(exception, SIGTERMException):
            self.signal_name = self.signal_name or "SIGTERM"  # or the signal that asked to stop
        else:
            return
        if self.start_step is None or trainer.global_step <= self.start_step:
            # stopped while setting up or restoring: the checkpoint on disk is still the newest
            log.info("interrupted by %s before any update: nothing to save", self.signal_name)
            return
        path = self.dirpath / "last.ckpt"
        # the whole state (weights_only=False: optimizers, loops, callbacks); only rank 0 writes,
        # and every rank must call it under DDP
        trainer.save_checkpoint(path, weights_only=False)
        self.saved = path
        log.info("interrupted by %s: saved %s", self.signal_name, path)
