"""Latent noise for generators."""

from __future__ import annotations

import torch
from torch import Tensor

LATENT_DISTRIBUTIONS = ("normal", "uniform")


def sample_latent(
    n: int,
    dim: int,
    distribution: str = "normal",
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw ``(n, dim)`` latents from N(0, 1) or U(-1, 1)."""
    if distribution == "normal":
        return torch.randn(n, dim, device=device, generator=generator)
    if distribution == "uniform":
        return torch.rand(n, dim, device=device, generator=generator) * 2 - 1
    raise ValueError(
        f"latent_distribution must be one of {LATENT_DISTRIBUTIONS}, got {distribution!r}"
    )
