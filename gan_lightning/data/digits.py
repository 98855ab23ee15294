"""scikit-learn's bundled 8x8 handwritten digits: 1,797 real images, no download needed."""

from __future__ import annotations

import torch
from torch import Tensor

from gan_lightning.data.in_memory import InMemoryImageDataModule


class DigitsDataModule(InMemoryImageDataModule):
    """The offline default data set; ``image_size`` above 8 upsamples (e.g. 32 for DCGAN)."""

    native_size = 8
    native_channels = 1

    def load_arrays(self) -> tuple[Tensor, Tensor]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        # Pixel values are 0..16 counts of a 4x4 block; rescale to 0..255.
        images = torch.from_numpy(digits.images * (255.0 / 16.0)).round().to(torch.uint8)
        return images.unsqueeze(1), torch.from_numpy(digits.target).long()
