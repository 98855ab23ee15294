"""Drawing samples from a generator outside training: metrics, ``sample`` and ``evaluate``.

A ``Sampler`` needs only the generator (a callable network) and the latent settings as plain
values, so it works the same on a live LightningModule's generator and on a network rebuilt from
a checkpoint, and knows no model class. Every draw is seeded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.generation import generate_in_eval_mode
from gan_lightning.latent import sample_latent


def truncate(z: Tensor, threshold: float, generator: torch.Generator) -> Tensor:
    """The truncation trick (Brock et al. 2019): redraw N(0, 1) entries with |z| > threshold."""
    if threshold <= 0:
        raise ValueError(f"truncation must be positive, got {threshold}")
    z = z.clone()
    outside = z.abs() > threshold
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    return z


def slerp(a: Tensor, b: Tensor, steps: int) -> Tensor:
    """Spherical interpolation from ``a`` to ``b`` (1-D) in ``steps`` points, ends included.

    Gaussian latents concentrate on a shell; a straight line between two of them passes through
    low-density points near the origin, a great-circle path does not.
    """
    t = torch.linspace(0, 1, steps, dtype=a.dtype).unsqueeze(1)
    omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def latent_settings(module: Any) -> dict[str, Any]:
    """What a generating module feeds G (latent size and distribution, number of classes), as
    the evaluation callback reads it and checkpoints record it; {} for a module without latents
    (CycleGAN, Pix2Pix). A subclass that sets these as class attributes is sampled as it trained."""
    if not hasattr(module, "latent_dim"):
        return {}
    return {
        "latent_dim": int(module.latent_dim),
        "latent_distribution": str(getattr(module, "latent_distribution", "normal")),
        "num_classes": int(getattr(module, "num_classes", 0) or 0),
    }


@dataclass
class Sampler:
    generator: nn.Module
    latent_dim: int
    latent_distribution: str = "normal"
    num_classes: int = 0
    truncation: float | None = None

    @classmethod
    def from_config(
        cls, generator: nn.Module, config: Any, latent: dict[str, Any] | None = None
    ) -> Sampler:
        """From a generator rebuilt from a checkpoint and the latent settings the checkpoint
        records, or (checkpoints without them) its run config."""
        if latent:
            return cls(generator, **latent)
        model = config.model
        return cls(
            generator,
            int(model.latent_dim),
            str(model.get("latent_distribution", "normal")),
            int(model.get("num_classes") or 0),
        )

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def latent(self, n: int, generator: torch.Generator) -> Tensor:
        z = sample_latent(n, self.latent_dim, self.latent_distribution, generator=generator)
        if self.truncation is not None:
            if self.latent_distribution != "normal":
                raise ValueError("truncation applies to normal latents only")
            z = truncate(z, self.truncation, generator)
        return z

    def check_labels(self, labels: Tensor) -> Tensor:
        labels = torch.as_tensor(labels, dtype=torch.long)
        if not self.conditional:
            raise ValueError("labels were given, but this generator is unconditional")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must be in 0..{self.num_classes - 1}, got {labels.tolist()}")
        return labels

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """G(z[, one-hot labels]) in eval mode; the generator's mode is restored afterwards."""
        if self.conditional and labels is None:
            raise ValueError(
                f"this generator is conditional: give labels in 0..{self.num_classes - 1}"
            )
        inputs = [z.to(self.device)]
        if labels is not None:
            labels = self.check_labels(labels)
            inputs.append(F.one_hot(labels, self.num_classes).float().to(self.device))
        return generate_in_eval_mode(self.generator, *inputs).float()

    def batches(
        self, n: int, batch_size: int, seed: int = 0, labels: Tensor | None = None
    ) -> Iterator[tuple[Tensor, Tensor | None]]:
        """``n`` samples in batches, with the labels asked for (conditional generators).

        Without ``labels`` a conditional generator gets every class equally often, in a seeded
        random order, so class-coverage metrics are not biased by the label draw.
        """
        if n < 1 or batch_size < 1:
            raise ValueError(f"need n >= 1 and batch_size >= 1, got n={n}, batch_size={batch_size}")
        rng = torch.Generator().manual_seed(seed)
        if self.conditional and labels is None:
            balanced = torch.arange(math.ceil(n / self.num_classes) * self.num_classes)
            labels = (balanced % self.num_classes)[torch.randperm(len(balanced), generator=rng)][:n]
        if labels is not None and len(labels) != n:
            raise ValueError(f"need {n} labels, got {len(labels)}")
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            batch_labels = None if labels is None else labels[start : start + size]
            yield self.generate(self.latent(size, rng), batch_labels), batch_labels
