"""Distributed set-ups that cannot work, caught before any process is started."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.accelerators import CPUAccelerator

from gan_lightning.errors import UserError


def check_distributed_setup(trainer: pl.Trainer, sync_batchnorm: bool, multirun: bool) -> None:
    """One line for the two DDP traps that otherwise end in a traceback or a runaway sweep."""
    if sync_batchnorm and isinstance(trainer.accelerator, CPUAccelerator):
        raise UserError(
            "trainer.sync_batchnorm=true needs GPUs (torch's SyncBatchNorm is CUDA-only); "
            "drop it for CPU runs such as trainer=ddp_cpu"
        )
    launcher = trainer.strategy.launcher
    # Lightning's script launcher starts each extra process by re-running this command line;
    # in a -m sweep that command line is the whole sweep, so every job would start the sweep
    # again. Spawned processes (or SLURM's, which create the processes themselves) do not.
    if multirun and trainer.num_devices > 1 and type(launcher).__name__.startswith("_Subprocess"):
        raise UserError(
            "a local -m sweep cannot start DDP processes by re-running the command; add "
            "+trainer.strategy.start_method=spawn, or run the sweep with hydra/launcher=slurm"
        )
