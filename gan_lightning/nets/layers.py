"""Input joins and layers that any network can use: conditioning, PacGAN, minibatch spread."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def with_condition(x: Tensor, condition: Tensor | None) -> Tensor:
    """``x`` with the condition (a one-hot label, a text code) appended as extra features."""
    if condition is None:
        return x
    return torch.cat([x, condition.to(x.dtype)], dim=1)


def with_condition_maps(x: Tensor, condition: Tensor) -> Tensor:
    """A feature map with a vector per sample replicated over it as extra channels."""
    maps = condition.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
    return torch.cat([x, maps], dim=1)


def pack_samples(x: Tensor, pack: int) -> Tensor:
    """PacGAN packing (Lin et al. 2018): ``m`` consecutive samples become one D input.

    (N, C, ...) -> (N // m, m * C, ...): images are stacked along channels, vectors concatenated.
    A remainder of fewer than ``m`` samples is dropped.
    """
    if pack == 1:
        return x
    usable = x.shape[0] // pack * pack
    if usable == 0:
        raise ValueError(f"a batch of {x.shape[0]} cannot be packed in groups of {pack}")
    x = x[:usable]
    return x.reshape(usable // pack, pack * x.shape[1], *x.shape[2:])


class MinibatchStdDev(nn.Module):
    """Appends the batch's mean standard deviation as one extra feature (Karras et al. 2018).

    A collapsed generator makes batches with a small spread, which D can then see. Works on
    feature vectors (N, F) -> (N, F + 1) and on maps (N, C, H, W) -> (N, C + 1, H, W).
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] < 2:
            spread = x.new_zeros(())
        else:
            spread = (x.var(dim=0, unbiased=False) + self.eps).sqrt().mean()
        extra = spread.expand(x.shape[0], 1, *x.shape[2:])
        return torch.cat([x, extra], dim=1)
