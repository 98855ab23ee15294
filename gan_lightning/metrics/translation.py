"""Scores of an image-to-image model on the held-out images of both domains.

``cycle_l1_A`` = mean |F(G(a)) - a| over testA (and ``cycle_l1_B``): needs no feature network,
so it is always computed. ``fid_AtoB`` / ``kid_AtoB`` compare G(testA) with testB in Inception
features (and BtoA the other way), as CycleGAN papers report them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.generation import generate_in_eval_mode, real_images
from gan_lightning.metrics.base import SampleMetric, require_inputs
from gan_lightning.metrics.distances import TranslatedDistance

DIRECTIONS = {"AtoB": ("A", "B"), "BtoA": ("B", "A")}


@dataclass
class TranslationInputs:
    """Both translators (``{"AtoB": G, "BtoA": F}``) and the set-up unpaired data module."""

    translators: dict[str, nn.Module]
    datamodule: Any
    batch_size: int = 50
    seed: int = 0
    kid_subset_size: int | None = None

    @property
    def device(self) -> torch.device:
        return next(self.translators["AtoB"].parameters()).device

    @property
    def num_samples(self) -> int:
        return min(len(self.datamodule.test_sets[d]) for d in ("A", "B"))

    def test_batches(self, domain: str) -> Iterator[Tensor]:
        for batch in self.datamodule.test_loader(domain, self.batch_size):
            yield real_images(batch)

    def translated_batches(self, direction: str) -> Iterator[Tensor]:
        source, _ = DIRECTIONS[direction]
        for images in self.test_batches(source):
            yield generate_in_eval_mode(self.translators[direction], images.to(self.device))

    def direction(self, direction: str) -> DirectionInputs:
        return DirectionInputs(self, direction)


@dataclass
class DirectionInputs:
    """One direction seen as a generator (the translations) and its real data (the target
    domain's test images): what the feature distances of ``distances.py`` consume."""

    parent: TranslationInputs
    name: str

    @property
    def datamodule(self) -> Any:
        return self.parent.datamodule

    @property
    def device(self) -> torch.device:
        return self.parent.device

    @property
    def seed(self) -> int:
        return self.parent.seed

    @property
    def batch_size(self) -> int:
        return self.parent.batch_size

    @property
    def real_key(self) -> Hashable:
        return (id(self.parent.datamodule), DIRECTIONS[self.name][1])

    @property
    def kid_subset_size(self) -> int | None:
        return self.parent.kid_subset_size

    def fake_batches(self) -> Iterator[tuple[Tensor, None]]:
        for images in self.parent.translated_batches(self.name):
            yield images, None

    def real_batches(self) -> Iterator[Tensor]:
        return self.parent.test_batches(DIRECTIONS[self.name][1])


UNPAIRED = (TranslationInputs, "image-to-image models (CycleGAN checkpoints)")


class CycleReconstruction(SampleMetric):
    """Mean absolute error of the round trip, in the [-1, 1] pixel scale."""

    name = "cycle reconstruction"

    def check(self, inputs: Any) -> None:
        require_inputs(self, inputs, *UNPAIRED)

    @torch.no_grad()
    def compute(self, inputs: Any) -> dict[str, float]:
        results = {}
        for direction, (source, _) in DIRECTIONS.items():
            back = inputs.translators["BtoA" if direction == "AtoB" else "AtoB"]
            total, count = 0.0, 0
            for images in inputs.test_batches(source):
                images = images.to(inputs.device)
                forth = generate_in_eval_mode(inputs.translators[direction], images)
                total += float((generate_in_eval_mode(back, forth) - images).abs().sum())
                count += images.numel()
            results[f"cycle_l1_{source}"] = total / count
        return results


class TranslationDistance(TranslatedDistance):
    """FID and KID of translated test images against the other domain's test images
    (``fid_AtoB``, ``kid_AtoB``, ``kid_AtoB_std``, and BtoA)."""

    name = "translation FID"
    accepts = UNPAIRED
    too_few = "translation FID needs at least 2 test images in each domain"

    def targets(self, inputs: Any) -> dict[str, Any]:
        return {f"_{direction}": inputs.direction(direction) for direction in DIRECTIONS}
