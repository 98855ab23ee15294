"""Running a trained generator for its output: shared by the models' grids, the metrics and the
inference commands, so none of them depends on another's module."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


@torch.no_grad()
def generate_in_eval_mode(generator: nn.Module, *inputs: Tensor) -> Tensor:
    """Run G deterministically (dropout off, BatchNorm running stats) and restore its mode."""
    was_training = generator.training
    generator.eval()
    try:
        return generator(*inputs)
    finally:
        generator.train(was_training)


def real_images(batch: Any) -> Tensor:
    """The image tensor of an ``(images, labels)`` batch or of a bare image batch."""
    return batch if isinstance(batch, Tensor) else batch[0]


def as_channels(images: Tensor, channels: int) -> Tensor:
    """Grey shown beside colour: repeat the channel (grids, the input-L1 baseline)."""
    if images.shape[1] == channels:
        return images
    if images.shape[1] == 1:
        return images.expand(-1, channels, -1, -1)
    return images.mean(1, keepdim=True)
