"""Paired sets derived from images already on disk, so pix2pix trains offline.

* ``ColorizeDataModule``: grey -> colour from any folder of photos (e.g. the CelebA faces).
* ``EdgesToDigitsDataModule``: a digit's outline -> the digit, from MNIST's IDX files.

The input is computed from the target, so every pair is aligned by construction.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import transforms

from gan_lightning.data.image_folder import ImageFolderDataset, list_images, pil_to_signed_unit
from gan_lightning.data.loading import LoaderArg, LoaderOptions, resolve_load_size
from gan_lightning.data.mnist import MNISTDataModule
from gan_lightning.data.paired import PairedImageData
from gan_lightning.data.transforms import fit_images, to_signed_unit
from gan_lightning.errors import UserError
from gan_lightning.sizes import PositiveInt

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL's convert("L")


def to_grey(images: Tensor, channels: int) -> Tensor:
    """RGB in [-1, 1] (C, H, W or N, C, H, W) -> luma, as 1 channel or repeated to 3."""
    weights = images.new_tensor(LUMA).view(3, 1, 1)
    grey = (images * weights).sum(-3, keepdim=True)
    return grey if channels == 1 else grey.expand(*grey.shape[:-3], 3, *grey.shape[-2:])


class GreyColourPairs(Dataset):
    """Items ``(grey image, colour image)`` from an RGB folder data set."""

    def __init__(self, colour: ImageFolderDataset, in_channels: int) -> None:
        self.colour = colour
        self.in_channels = in_channels

    def __len__(self) -> int:
        return len(self.colour)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        target = self.colour[index][0]
        return to_grey(target, self.in_channels), target


class ColorizeDataModule(PairedImageData):
    """Grey -> colour on the images of ``image_dir``; the last ``test_fraction`` of the files
    (by name) are held out. Training images are resized (shorter side) to ``load_size``,
    randomly cropped and flipped; held-out ones resized and centre-cropped to ``image_size``.
    """

    fetch_draws_random = True

    default_loader = LoaderOptions(batch_size=16, num_workers=2)

    def __init__(
        self,
        image_dir: str,
        image_size: PositiveInt = 64,
        load_size: PositiveInt | None = None,
        in_channels: PositiveInt = 1,
        out_channels: PositiveInt = 3,
        test_fraction: float = 0.1,
        flip: bool = True,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        if out_channels != 3:
            raise ValueError(
                f"out_channels must be 3 (the target is the colour image), got {out_channels}"
            )
        super().__init__(image_size, in_channels, 3, loader, limit, limit_seed)
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        self.image_dir = Path(image_dir)
        self.load_size = resolve_load_size(image_size, load_size)
        self.test_fraction = test_fraction
        self.flip = flip

    def validate(self) -> None:
        if not self.image_dir.is_dir() or not list_images(self.image_dir):
            raise UserError(
                f"no images in {self.image_dir.resolve()}/; point data.image_dir at a folder of "
                "colour photos (jpg, png), e.g. <data_dir>/celeba/img_align_celeba"
            )

    def build(self) -> None:
        self.validate()
        files = list_images(self.image_dir)
        held = max(1, round(len(files) * self.test_fraction))
        if len(files) - held < 1:
            raise UserError(f"{self.image_dir} has {len(files)} image(s): too few to hold out")
        train_steps: list = [
            transforms.Resize(self.load_size),
            transforms.RandomCrop(self.image_size),
        ]
        if self.flip:
            train_steps.append(transforms.RandomHorizontalFlip())
        test_steps = [transforms.Resize(self.image_size), transforms.CenterCrop(self.image_size)]
        for name, chosen, steps in (
            ("train_set", files[:-held], train_steps),
            ("test_set", files[-held:], test_steps),
        ):
            colour = ImageFolderDataset(chosen, transforms.Compose([*steps, pil_to_signed_unit]))
            setattr(self, name, GreyColourPairs(colour, self.in_channels))
        self._finish_train_set(str(self.image_dir.resolve()))


def outline(images: Tensor, width: int = 1) -> Tensor:
    """uint8 NCHW strokes -> their outer contour: dilation minus the image (grey levels kept)."""
    grown = F.max_pool2d(images.float(), 2 * width + 1, stride=1, padding=width)
    return (grown - images.float()).clamp_(0, 255).to(torch.uint8)


class InMemoryPairs(Dataset):
    """uint8 input and target tensors, batched by index like the in-memory image sets."""

    def __init__(self, inputs: Tensor, targets: Tensor) -> None:
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return to_signed_unit(self.inputs[index]), to_signed_unit(self.targets[index])

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        index = torch.as_tensor(indices)
        return to_signed_unit(self.inputs[index]), to_signed_unit(self.targets[index])


class EdgesToDigitsDataModule(PairedImageData):
    """MNIST outlines -> digits (the shape of edges2shoes, at digit size). Train on MNIST's
    train split, hold out its test split; images resized once to ``image_size`` (32 suits a
    5-level U-Net)."""

    def __init__(
        self,
        data_dir: str = "data",
        image_size: PositiveInt = 32,
        in_channels: PositiveInt = 1,
        out_channels: PositiveInt = 1,
        outline_width: PositiveInt = 1,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        super().__init__(image_size, in_channels, out_channels, loader, limit, limit_seed)
        if outline_width < 1:
            raise ValueError(f"outline_width must be >= 1, got {outline_width}")
        self.data_dir = data_dir
        self.outline_width = outline_width

    def _split(self, split: str) -> MNISTDataModule:
        return MNISTDataModule(self.data_dir, split=split)

    def validate(self) -> None:
        for split in ("train", "test"):
            self._split(split).validate()

    def _pairs(self, split: str) -> InMemoryPairs:
        digits, _ = self._split(split).load_arrays()
        digits = fit_images(digits, self.image_size, 1)
        edges = outline(digits, self.outline_width)
        return InMemoryPairs(
            fit_images(edges, self.image_size, self.in_channels),
            fit_images(digits, self.image_size, self.out_channels),
        )

    def build(self) -> None:
        self.train_set, self.test_set = self._pairs("train"), self._pairs("test")
        self._finish_train_set(str(Path(self.data_dir).resolve()))
