"""Scores of a paired translator (Pix2Pix) on the held-out pairs of its data set.

``l1`` = mean |G(x) - y| in the [-1, 1] pixel scale, against ``l1_input`` = mean |x - y|: the
error of returning the input unchanged, the baseline a translator must beat (grey inputs are
repeated to the target's channels). ``fid`` / ``kid`` compare G(x) with the targets in
Inception features when the weights are given.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.errors import UserError
from gan_lightning.generation import as_channels, generate_in_eval_mode
from gan_lightning.metrics.base import SampleMetric, require_inputs
from gan_lightning.metrics.distances import TranslatedDistance


@dataclass
class PairedInputs:
    """The translator and the set-up paired data module; also what ``distances.py`` reads
    (translations as the fakes, held-out targets as the reals)."""

    generator: nn.Module
    datamodule: Any
    batch_size: int = 16
    seed: int = 0
    kid_subset_size: int | None = None

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @property
    def num_samples(self) -> int:
        if self.datamodule.test_set is None:
            self.datamodule.setup("test")
        return len(self.datamodule.test_set)

    @property
    def real_key(self) -> Hashable:
        return (id(self.datamodule), "paired targets")

    def pairs(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """(inputs, outputs, targets) batches on the generator's device."""
        for inputs, targets in self.datamodule.test_loader(self.batch_size):
            inputs, targets = inputs.to(self.device), targets.to(self.device)
            yield inputs, generate_in_eval_mode(self.generator, inputs), targets

    def fake_batches(self) -> Iterator[tuple[Tensor, None]]:
        for _, outputs, _ in self.pairs():
            yield outputs, None

    def real_batches(self) -> Iterator[Tensor]:
        for _, targets in self.datamodule.test_loader(self.batch_size):
            yield targets


PAIRED = (PairedInputs, "paired translation (Pix2Pix checkpoints)")


class PairedL1(SampleMetric):
    name = "paired L1"

    def check(self, inputs: Any) -> None:
        require_inputs(self, inputs, *PAIRED)
        if inputs.num_samples < 1:
            raise UserError("paired L1 needs at least one held-out pair")

    @torch.no_grad()
    def compute(self, inputs: Any) -> dict[str, float]:
        output_error = input_error = 0.0
        count = 0
        for source, outputs, targets in inputs.pairs():
            output_error += float((outputs - targets).abs().sum())
            input_error += float((as_channels(source, targets.shape[1]) - targets).abs().sum())
            count += targets.numel()
        return {"l1": output_error / count, "l1_input": input_error / count}


class PairedDistance(TranslatedDistance):
    """FID and KID of the translations against the held-out targets."""

    name = "paired FID"
    accepts = PAIRED
    too_few = "paired FID needs at least 2 held-out pairs"

    def targets(self, inputs: Any) -> dict[str, Any]:
        return {"": inputs}
