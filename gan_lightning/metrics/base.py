"""What every sample metric gets, and the one error a metric raises when it does not apply."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gan_lightning.errors import UserError
from gan_lightning.generation import real_images
from gan_lightning.sampling import Sampler


@dataclass
class EvaluationInputs:
    """A generator, the (set-up) data module it was trained on, and how many samples to score."""

    sampler: Sampler
    datamodule: Any
    num_samples: int
    batch_size: int = 500
    seed: int = 0
    kid_subset_size: int | None = None  # None: the metric's own

    @property
    def device(self) -> torch.device:
        return self.sampler.device

    @property
    def real_key(self) -> Hashable:
        """Identifies the real samples, so feature metrics compute their statistics once."""
        return id(self.datamodule)

    def fake_batches(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        return self.sampler.batches(self.num_samples, self.batch_size, self.seed)

    def real_batches(self) -> Iterator[Tensor]:
        """``num_samples`` real training samples (fewer if the set is smaller), in batches:
        from the whole training set when ``data.limit`` trains on a subset of it."""
        remaining = self.num_samples
        reference = getattr(self.datamodule, "reference_dataloader", None)
        loader = reference() if reference is not None else self.datamodule.train_dataloader()
        for batch in loader:
            images = real_images(batch)
            yield images[:remaining].float()
            remaining -= min(remaining, images.shape[0])
            if remaining == 0:
                return


class SampleMetric:
    """Scores ``num_samples`` generated samples; ``compute`` returns name -> value."""

    name = "metric"
    min_samples = 1
    # how to meet min_samples, said after "raise the sample count"
    fewer_samples_fix = "(evaluate's n=, callbacks.evaluation.num_samples in training)"

    def check(self, inputs: EvaluationInputs) -> None:
        """UserError (one line) when the metric does not fit this generator and data."""
        if inputs.num_samples < self.min_samples:
            raise UserError(
                f"{self.name} needs at least {self.min_samples} samples, got {inputs.num_samples};"
                f" raise the sample count {self.fewer_samples_fix}"
            )

    def prepare(self, datamodule: Any) -> None:
        """Make what the metric needs before the first evaluation (once, on one process)."""

    def compute(self, inputs: EvaluationInputs) -> dict[str, float]:
        raise NotImplementedError


def require_inputs(metric: SampleMetric, inputs: Any, kind: type, models: str) -> None:
    """One line when ``metric`` is given the inputs of another kind of model than it scores."""
    if not isinstance(inputs, kind):
        raise UserError(f"{metric.name} scores {models}")


def is_image_data(datamodule: Any) -> bool:
    return hasattr(datamodule, "image_size") and hasattr(datamodule, "channels")


def data_name(datamodule: Any) -> str:
    """``MNISTDataModule`` -> ``mnist``: the key of cached feature networks."""
    return type(datamodule).__name__.removesuffix("DataModule").lower()
