"""The training loaders' shuffling, made resumable at any batch.

A resumed run must see the batches the uninterrupted run would have seen. So the order of an
epoch is a function of (seed, epoch) alone (``DistributedSampler``'s, given here with this
process's rank, so Lightning keeps it under DDP instead of replacing it): no generator state to
carry, and no draw from the global random stream, which the training step's latents use. The
position inside the epoch travels in the loader's own state (torchdata's
``StatefulDataLoader``, which Lightning saves with every checkpoint and fast-forwards on resume).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sized

import pytorch_lightning as pl
import torch
from torch.utils.data import DistributedSampler

from gan_lightning.rng import SEED_VARIABLE


def run_seed(trainer: pl.Trainer | None = None) -> int:
    """The seed ``seed_everything`` set (``train`` always sets one, and a resumed run the one it
    started with); without it, one drawn from the global stream. Under DDP, rank 0's: ranks
    started by an outside launcher (torchrun, SLURM) with ``seed=null`` draw different seeds,
    and the ranks' shares of an epoch only partition it when they shuffle alike."""
    seed = os.environ.get(SEED_VARIABLE)
    own = int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, ()))
    return int(trainer.strategy.broadcast(own, src=0)) if trainer is not None else own


class EpochShuffle(DistributedSampler):
    """This rank's share of every index once per epoch, in an order drawn from (seed, epoch).

    The epoch is the trainer's when an epoch's iterator is made, not the last ``set_epoch``:
    Lightning makes a resumed loader's iterator before it sets the epoch. (A checkpoint's loop
    progress is first made to say where the batches stopped:
    ``lightning_adapter.resume_where_the_batches_stopped``.)
    """

    def __init__(self, dataset: Sized, trainer: pl.Trainer | None, seed: int) -> None:
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        super().__init__(dataset, num_replicas=world_size, rank=rank, seed=seed)
        self.trainer = trainer

    def __iter__(self) -> Iterator[int]:
        if self.trainer is not None:
            self.epoch = self.trainer.current_epoch
        return super().__iter__()


def loader_generator(seed: int) -> torch.Generator:
    """The loader's own generator: the base seed of its worker processes is drawn from it at
    each epoch's start, not from the global stream."""
    return torch.Generator().manual_seed(seed)
