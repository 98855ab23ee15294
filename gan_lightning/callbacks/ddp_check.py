"""Check a distributed run does what DDP promises: same weights on every rank, different data.

Weights that drift apart mean a gradient was not synchronised (a parameter DDP did not know
about, an update one rank skipped); identical batches on two ranks mean the data was not
sharded, so N processes did the work of one. Both fail silently otherwise. The check costs two
small all-gathers per checked batch: turn it on to validate a new variant or setup
(``callbacks=[default,ddp_check]``, ``conf/callbacks/ddp_check.yaml``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from gan_lightning.sizes import PositiveInt


class DistributedSyncCheck(pl.Callback):
    """After every ``every_n_batches``-th batch, compare the ranks' parameters and batches.

    Parameters that differ between ranks stop the run with ``RuntimeError``, and so does an image
    tensor of the batch that is the same on two ranks, unless ``require_distinct_batches`` is
    off (a data set smaller than the world size repeats legitimately). With ``record`` set,
    rank 0 appends one JSON line per checked batch (per-rank weight and batch checksums).
    """

    def __init__(
        self,
        every_n_batches: PositiveInt = 1,
        record: str | None = None,
        require_distinct_batches: bool = True,
    ) -> None:
        if every_n_batches < 1:
            raise ValueError(f"every_n_batches must be >= 1, got {every_n_batches}")
        self.every_n_batches = every_n_batches
        self.record = Path(record) if record else None
        self.require_distinct_batches = require_distinct_batches

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if trainer.world_size == 1 or batch_idx % self.every_n_batches:
            return
        synced = [
            *pl_module.parameters(),  # G's average (model.training.ema) too
            *spectral_norm_vectors(pl_module),
            *toolkit_state(pl_module),
        ]
        weights = torch.stack([t.detach().double().sum() for t in synced])
        # one checksum per image tensor (CycleGAN's A and B each); labels can repeat by chance
        images = [t for t in _tensors(batch) if t.is_floating_point()]
        data = torch.stack([t.detach().double().sum() for t in images])
        all_weights = trainer.strategy.all_gather(weights.to(pl_module.device)).cpu()
        all_data = trainer.strategy.all_gather(data.to(pl_module.device)).cpu()
        weight_gap = float((all_weights - all_weights[0]).abs().max())
        if trainer.is_global_zero and self.record is not None:
            self.record.parent.mkdir(parents=True, exist_ok=True)
            with self.record.open("a") as out:
                line = {
                    "batch": batch_idx,
                    "global_step": trainer.global_step,
                    "weight_sums": all_weights.sum(dim=1).tolist(),
                    "max_weight_gap": weight_gap,
                    "batch_sums": all_data.tolist(),
                }
                out.write(json.dumps(line) + "\n")
        if weight_gap > 0:
            raise RuntimeError(
                f"DDP ranks hold different weights after batch {batch_idx} (largest gap in a "
                f"parameter sum: {weight_gap:.3g}): a gradient was not synchronised"
            )
        if self.require_distinct_batches:
            for i in range(all_data.shape[0]):
                for j in range(i + 1, all_data.shape[0]):
                    if bool((all_data[i] == all_data[j]).any()):
                        raise RuntimeError(
                            f"ranks {i} and {j} got the same batch {batch_idx}: the data is not "
                            "sharded (keep trainer.use_distributed_sampler=true)"
                        )


def spectral_norm_vectors(module: torch.nn.Module) -> Iterator[Tensor]:
    """Spectral norm's power-iteration vectors: part of the effective weights, and updated
    from the (synchronised) weights alone, so they too must agree on every rank."""
    for name, buffer in module.named_buffers():
        if ".parametrizations." in name and name.endswith(("._u", "._v")):
            yield buffer


def toolkit_state(module: torch.nn.Module) -> Iterator[Tensor]:
    """ADA's p and the toolkit's counters: every rank must adapt and schedule alike."""
    for name, buffer in module.named_buffers():
        if name in ("augment.p", "penalties.d_updates", "averages.updates"):
            yield buffer


def _tensors(batch: Any) -> Iterator[Tensor]:
    """Every tensor of a batch (a tensor, or nested tuples, lists and dicts of them)."""
    if isinstance(batch, Tensor):
        yield batch
    elif isinstance(batch, dict):
        for value in batch.values():
            yield from _tensors(value)
    elif isinstance(batch, list | tuple):
        for value in batch:
            yield from _tensors(value)
