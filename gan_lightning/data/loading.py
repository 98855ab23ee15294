"""What every image data module shares: argument checks and the training DataLoader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import DataLoader, Dataset


def check_loader_args(batch_size: int, image_size: int, channels: int, num_workers: int) -> None:
    """ValueError naming the argument, so the CLI reports ``data: <message>`` as one line."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")


def resolve_load_size(image_size: int, load_size: int | None) -> int:
    """The size resized to before a random crop to ``image_size``; null: the pix2pix /
    CycleGAN ratio, 286 for 256."""
    if load_size is None:
        load_size = round(image_size * 286 / 256)
    if load_size < image_size:
        raise ValueError(f"load_size ({load_size}) must be >= image_size ({image_size})")
    return load_size


def train_loader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int,
    pin_memory: bool,
    collate_fn: Callable[[Any], Any] | None = None,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,  # equal batches keep BatchNorm and packed discriminators well-posed
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        collate_fn=collate_fn,
    )
