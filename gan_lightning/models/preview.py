"""The fixed image pairs that the image-to-image variants render as sample grids."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class PreviewPairs:
    """The data module's held-out ``preview_batch`` when it has one, else the first training
    batch's: the same images at every epoch, so successive grids are comparable."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"num_grid_images must be >= 1, got {count}")
        self.count = count
        self.first: Tensor | None = None  # CycleGAN: domain A; Pix2Pix: the inputs
        self.second: Tensor | None = None

    def take_from_data(self, datamodule: Any, device: torch.device) -> None:
        if datamodule is not None and hasattr(datamodule, "preview_batch"):
            first, second = datamodule.preview_batch(self.count)
            self.first, self.second = first.to(device), second.to(device)

    def keep_if_missing(self, first: Tensor, second: Tensor) -> None:
        if self.first is None:
            self.first = first[: self.count].detach().clone()
            self.second = second[: self.count].detach().clone()
