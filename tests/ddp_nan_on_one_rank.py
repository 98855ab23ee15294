"""Run by tests/test_reliability.py: 2 gloo ranks, a NaN in rank 1's batch only (a D-only
batch, d_steps=2), ModelCheckpoint every 4 steps. Every rank must stop as diverged, and no
checkpoint with non-finite weights may be written."""

from __future__ import annotations

import datetime
import sys
from functools import partial

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.strategies import DDPStrategy
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import quiet_trainer
from tests.test_adversarial import SHAPE, make_gan


class PoisonRankOne(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_rank == 1 and batch_idx == 2:
            batch[0][0] = float("nan")


def main(checkpoint_dir: str) -> None:
    images = torch.rand(96, *SHAPE) * 2 - 1
    data = DataLoader(TensorDataset(images, torch.zeros(96)), batch_size=8)
    model = make_gan(optimizer=partial(torch.optim.Adam, lr=1e-3), d_steps=2)
    strategy = DDPStrategy(
        process_group_backend="gloo",
        find_unused_parameters=True,
        timeout=datetime.timedelta(seconds=60),
    )
    checkpoints = ModelCheckpoint(dirpath=checkpoint_dir, every_n_train_steps=4, save_top_k=-1)
    trainer = quiet_trainer(
        max_epochs=1,
        log_every_n_steps=100,
        enable_checkpointing=True,
        devices=2,
        strategy=strategy,
        callbacks=[PoisonRankOne(), checkpoints],
    )
    trainer.fit(model, data)


if __name__ == "__main__":
    main(sys.argv[1])
