"""Scatter plots rasterised straight into an image tensor: no plotting library needed."""

from __future__ import annotations

import torch
from torch import Tensor

BACKGROUND = (1.0, 1.0, 1.0)
REAL_COLOUR = (0.55, 0.65, 0.85)
FAKE_COLOUR = (0.85, 0.1, 0.1)


def scatter_image(
    layers: list[tuple[Tensor, tuple[float, float, float]]],
    extent: float,
    size: int = 256,
    dot: int = 2,
) -> Tensor:
    """(3, size, size) image in [-1, 1] of 2-D point sets drawn in order over [-extent, extent]^2.

    Later layers are drawn on top (real first, generated last). Points outside are clipped to
    the border so that runaway samples stay visible.
    """
    image = torch.tensor(BACKGROUND).view(3, 1, 1).repeat(1, size, size)
    for points, colour in layers:
        scaled = (points.detach().float().cpu() + extent) / (2 * extent) * (size - dot)
        pixels = scaled.round().long().clamp(0, size - dot)
        cols, rows = pixels[:, 0], (size - dot) - pixels[:, 1]  # y grows upwards
        for dy in range(dot):
            for dx in range(dot):
                for channel, value in enumerate(colour):
                    image[channel, rows + dy, cols + dx] = value
    # grid axes through the origin, light grey
    middle = size // 2
    axis = image[:, middle, :] == torch.tensor(BACKGROUND).view(3, 1)
    image[:, middle, :] = torch.where(axis, torch.tensor(0.85), image[:, middle, :])
    axis = image[:, :, middle] == torch.tensor(BACKGROUND).view(3, 1)
    image[:, :, middle] = torch.where(axis, torch.tensor(0.85), image[:, :, middle])
    return image * 2 - 1
