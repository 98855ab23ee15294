"""The 2-D mode-coverage metrics of PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al. 2017).

A sample is high quality when it lies within 3 standard deviations of its nearest centre; a mode
is covered when at least one high-quality sample lands in it; reverse KL compares the histogram
of high-quality samples over modes with the uniform distribution: sum_k p_k log(p_k K).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gan_lightning.errors import UserError
from gan_lightning.metrics.base import EvaluationInputs, SampleMetric


def mode_statistics(
    samples: Tensor, centers: Tensor, std: float, threshold: float = 3.0
) -> dict[str, float]:
    """``modes`` covered, ``high_quality`` fraction in [0, 1], ``reverse_kl`` (nan without any
    high-quality sample, where the mode distribution is undefined)."""
    if samples.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(
            f"mode statistics need ({centers.shape[1]}-D) points of shape (N, "
            f"{centers.shape[1]}), got {tuple(samples.shape)}"
        )
    if samples.shape[0] == 0:
        raise ValueError("mode statistics need at least one sample")
    distances = torch.cdist(samples.double(), centers.double()) / std
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance < threshold
    counts = torch.bincount(nearest[good], minlength=centers.shape[0]).double()
    total = counts.sum()
    if total == 0:
        reverse_kl = math.nan
    else:
        p = counts[counts > 0] / total
        reverse_kl = float((p * (p * centers.shape[0]).log()).sum())
    return {
        "modes": float((counts > 0).sum()),
        "high_quality": float(good.double().mean()),
        "reverse_kl": reverse_kl,
    }


class ModeCoverage(SampleMetric):
    """Modes covered, high-quality fraction and reverse KL on a 2-D mixture (data=ring, grid)."""

    name = "mode coverage"

    def check(self, inputs: EvaluationInputs) -> None:
        super().check(inputs)
        if not hasattr(inputs.datamodule, "centers"):
            raise UserError(
                f"mode coverage needs a 2-D mixture (data=ring or data=grid), not "
                f"{type(inputs.datamodule).__name__}"
            )

    def compute(self, inputs: EvaluationInputs) -> dict[str, float]:
        samples = torch.cat([fake for fake, _ in inputs.fake_batches()]).cpu()
        return mode_statistics(samples, inputs.datamodule.centers, inputs.datamodule.std)
