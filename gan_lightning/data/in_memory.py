"""Small image sets held in memory as one uint8 tensor, batched by index."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from gan_lightning.data.loading import check_loader_args, train_loader
from gan_lightning.data.transforms import fit_images, to_signed_unit
from gan_lightning.errors import UserError


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


def keep_batch(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """The collate function of batched datasets: ``__getitems__`` already made the batch."""
    return batch


def batch_loader(
    dataset: InMemoryImageDataset, batch_size: int, num_workers: int, pin_memory: bool
) -> DataLoader:
    """Shuffled, equal-sized batches fetched by index (Lightning shards it under DDP)."""
    return train_loader(dataset, batch_size, num_workers, pin_memory, collate_fn=keep_batch)


class InMemoryImageDataModule(pl.LightningDataModule):
    """Base for sets small enough to decode once: subclasses return the raw uint8 arrays.

    ``image_size`` and ``channels`` are what the model sees (resized / converted once at set-up);
    ``num_classes`` must match the data set and exists so model configs can interpolate it.
    """

    native_num_classes: int | None = None

    def __init__(
        self,
        batch_size: int = 64,
        image_size: int = 28,
        channels: int = 1,
        num_classes: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        check_loader_args(batch_size, image_size, channels, num_workers)
        if num_classes != self.native_num_classes:
            raise ValueError(
                f"num_classes must be {self.native_num_classes} for {type(self).__name__}, "
                f"got {num_classes}"
            )
        self.batch_size = batch_size
        self.image_size = image_size
        self.channels = channels
        self.num_classes = num_classes
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.train_set: InMemoryImageDataset | None = None

    def validate(self) -> None:
        """Cheap checks (files present, ...) that train.py runs before building the trainer."""

    def load_arrays(self) -> tuple[Tensor, Tensor | None]:
        """The training split as (uint8 NCHW images, int labels or None)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        images, labels = self.load_arrays()
        if images.shape[0] < self.batch_size:
            raise UserError(
                f"the data set has {images.shape[0]} images, fewer than batch_size="
                f"{self.batch_size}; lower data.batch_size"
            )
        self.train_set = InMemoryImageDataset(
            fit_images(images, self.image_size, self.channels), labels
        )

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup() first"
        return batch_loader(self.train_set, self.batch_size, self.num_workers, self.pin_memory)
