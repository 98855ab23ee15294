"""Small image sets held in memory as one uint8 tensor, batched by index."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from gan_lightning.data.loading import (
    DownloadableData,
    ImageDataModule,
    LoaderArg,
    LoaderOptions,
    as_loader_options,
    train_loader,
)
from gan_lightning.data.transforms import fit_images, to_signed_unit
from gan_lightning.errors import UserError
from gan_lightning.sizes import PositiveInt


class InMemoryImageDataset(Dataset):
    """uint8 NCHW images (+ int labels, -1 where unknown); items are ``(float image, label)``."""

    def __init__(self, images: Tensor, labels: Tensor | None = None) -> None:
        if labels is None:
            labels = torch.full((images.shape[0],), -1, dtype=torch.long)
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        self.images = images
        self.labels = labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return to_signed_unit(self.images[index]), self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        """A whole batch in one indexing and one conversion: the DataLoader calls this with a
        batch's indices instead of building the batch from one tensor per image."""
        index = torch.as_tensor(indices)
        return to_signed_unit(self.images[index]), self.labels[index]

    def subset(self, indices: Tensor) -> InMemoryImageDataset:
        """The images (and labels) at ``indices``, as a set of the same kind (``data.limit``)."""
        return InMemoryImageDataset(self.images[indices], self.labels[indices])


def batch_loader(dataset: InMemoryImageDataset, loader: LoaderArg = None) -> DataLoader:
    """Shuffled, equal-sized batches fetched by index (Lightning shards it under DDP)."""
    return train_loader(dataset, as_loader_options(loader, LoaderOptions()))


class InMemoryImageDataModule(ImageDataModule):
    """Base for sets small enough to decode once: subclasses return the raw uint8 arrays.

    ``image_size`` and ``channels`` are what the model sees, resized / converted once at set-up
    (null: the set's own, ``native_size`` and ``native_channels``). ``num_classes`` must match
    the data set and exists so model configs can interpolate it; the sets here have 10 classes
    (digits, CIFAR-10's objects).
    """

    native_size: ClassVar[int]
    native_channels: ClassVar[int]
    native_num_classes: ClassVar[int | None] = 10

    def __init__(
        self,
        image_size: PositiveInt | None = None,
        channels: PositiveInt | None = None,
        num_classes: PositiveInt | None = 10,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        super().__init__(
            self.native_size if image_size is None else image_size,
            self.native_channels if channels is None else channels,
            loader,
            limit,
            limit_seed,
        )
        if num_classes != self.native_num_classes:
            raise ValueError(
                f"num_classes must be {self.native_num_classes} for {type(self).__name__}, "
                f"got {num_classes}"
            )
        self.num_classes = num_classes

    def validate(self) -> None:
        """Cheap checks (files present, ...) that train.py runs before building the trainer."""

    def load_arrays(self) -> tuple[Tensor, Tensor | None]:
        """The training split as (uint8 NCHW images, int labels or None)."""
        raise NotImplementedError

    def build(self) -> None:
        images, labels = self.load_arrays()
        self.check_fills_a_batch(images.shape[0], f"the data set has {images.shape[0]} images")
        self.train_set = self.limited(
            InMemoryImageDataset(fit_images(images, self.image_size, self.channels), labels)
        )


class DownloadableSplit(DownloadableData, InMemoryImageDataModule):
    """One ``split`` of a set read from files under ``data_dir``, fetched by ``download=true``
    when they are missing. Subclasses name the ``splits`` and ``how_to_fix`` and implement
    ``_missing``, ``_download`` and ``read_split`` (the raw arrays, once the files are there)."""

    splits: ClassVar[tuple[str, ...]]
    how_to_fix: ClassVar[str]  # said after what is missing, when download is off

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = False,
        split: str = "train",
        image_size: PositiveInt | None = None,
        channels: PositiveInt | None = None,
        num_classes: PositiveInt | None = 10,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        super().__init__(image_size, channels, num_classes, loader, limit, limit_seed)
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        self.data_dir = data_dir
        self.download = download
        self.split = split

    def read_split(self) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _missing(self) -> str | None:
        """Which files are missing from which folder, in a few words; None: none is."""
        raise NotImplementedError

    def _problem(self) -> str | None:
        missing = self._missing()
        return None if missing is None else f"{missing}; {self.how_to_fix}"

    def download_failed(self, what: str, error: Exception) -> UserError:
        """One line (network errors come in many types, and the fix is the same for all):
        which files to copy where by hand, since the download cannot fetch them."""
        reason = str(error).replace("\n", " ") or type(error).__name__
        return UserError(
            f"{what} failed ({reason}); {self._missing()}: copy what is missing there by hand and "
            "leave data.download=false"
        )

    def download_with(self, dataset: type, name: str, folder: Path) -> None:
        """Fetch this split through its torchvision class into ``folder``."""
        made = folders_to_make(folder)
        try:
            dataset(self.data_dir, train=self.split == "train", download=True)
        except Exception as error:
            remove_if_empty(made)
            raise self.download_failed(f"{name} download", error) from None

    def load_arrays(self) -> tuple[Tensor, Tensor]:
        self.prepare_data()
        return self.read_split()


def folders_to_make(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_if_empty(folders: list[Path]) -> None:
    """After a failed download: no empty folder it made stays behind (one with files stays)."""
    for folder in folders:
        with suppress(OSError):
            folder.rmdir()
