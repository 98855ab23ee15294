"""scikit-learn's bundled 8x8 handwritten digits: 1,797 real images, no download needed."""

from __future__ import annotations

import torch
from torch import Tensor

from gan_lightning.data.in_memory import InMemoryImageDataModule


class DigitsDataModule(InMemoryImageDataModule):
    """The offline default data set; ``image_size`` above 8 upsamples (e.g. 32 for DCGAN)."""

    native_num_classes = 10

    def __init__(
        self,
        batch_size: int = 64,
        image_size: int = 8,
        channels: int = 1,
        num_classes: int = 10,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size, image_size, channels, num_classes, num_workers, pin_memory)

    def load_arrays(self) -> tuple[Tensor, Tensor]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        # Pixel values are 0..16 counts of a 4x4 block; rescale to 0..255.
        images = torch.from_numpy(digits.images * (255.0 / 16.0)).round().to(torch.uint8)
        return images.unsqueeze(1), torch.from_numpy(digits.target).long()
