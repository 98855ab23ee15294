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
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None
        self.signal_name: str | None = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self.signal_name = "SIGINT"
        elif isinstance(exception, SIGTERMException):
            self.signal_name = "SIGTERM"
        else:
            return
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path)  # only rank 0 writes; every rank must call it under DDP
        self.saved = path
        log.info("interrupted by %s: saved %s", self.signal_name, path)
