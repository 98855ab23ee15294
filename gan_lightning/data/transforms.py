"""Conversions shared by the data modules: uint8 <-> [-1, 1], resizing, channel count."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def to_signed_unit(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range of the generator's tanh."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float [-1, 1] -> uint8 [0, 255] (clamped)."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def fit_images(images: Tensor, image_size: int, channels: int) -> Tensor:
    """Resize a uint8 NCHW batch to ``image_size`` and convert grey <-> RGB to ``channels``.

    Done once on the whole in-memory set, not per sample. RGB -> grey uses ITU-R 601 luma.
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError("fit_images expects a uint8 NCHW tensor")
    if images.shape[-1] != image_size or images.shape[-2] != image_size:
        resized = F.interpolate(
            images.float(), size=(image_size, image_size), mode="bilinear", antialias=True
        )
        images = resized.round_().clamp_(0, 255).to(torch.uint8)
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round_().to(torch.uint8)
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels")
