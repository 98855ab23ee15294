"""CIFAR-10 (32x32 RGB, 10 classes) held in memory, read from the official python batches.

The files are those of ``cifar-10-python.tar.gz`` unpacked in ``data_dir``:
``cifar-10-batches-py/data_batch_1`` .. ``data_batch_5`` (train, 10,000 images each),
``test_batch`` (test) and ``batches.meta`` (the label names). Each batch is a pickled dict with
``b"data"``, a uint8 (N, 3072) array whose rows hold the R, G and B planes of a 32x32 image,
and ``b"labels"``, N ints 0-9.

The batches are parsed here rather than by torchvision's ``CIFAR10`` class, because that class
checks each file's md5 and so rejects subsets and re-saved copies; it is only used to download.
Pickle can run code while loading, so the batches are read by an unpickler that builds nothing
but numpy arrays, bytes, lists and dicts: only the official files (or files written the same
way) should be in that folder, and anything else is refused with an error naming the file.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gan_lightning.data.in_memory import DownloadableSplit
from gan_lightning.errors import UserError

FOLDER = "cifar-10-batches-py"
SPLIT_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
HOW_TO_FIX = (
    f"unpack cifar-10-python.tar.gz ({URL}) in data.data_dir, point data.data_dir at the "
    f"folder that holds {FOLDER}/, or set data.download=true on a machine with internet"
)
REREAD = "delete it and copy or download it again"


def _safe_globals() -> dict[tuple[str, str], Any]:
    """The only globals a CIFAR-10 batch refers to: numpy's array reconstruction (written as
    ``numpy.core`` by numpy 1 and Python 2, ``numpy._core`` by numpy 2) and, in files written
    by Python 3 with protocol 2, ``_codecs.encode`` for bytes."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    reconstruct = multiarray._reconstruct
    return {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("_codecs", "encode"): codecs.encode,
    }


class _BatchUnpickler(pickle.Unpickler):
    """Refuses every global but numpy's arrays: a file that asks for anything else is not a
    CIFAR-10 batch, and loading it could run arbitrary code."""

    allowed = _safe_globals()

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(
                f"it asks to load {module}.{name}, which a CIFAR-10 batch never does"
            )
        return found


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, 3, 32, 32) images and int64 (N,) labels 0-9 from one python batch;
    UserError naming the file when it is not one."""
    try:
        with open(path, "rb") as handle:
            # encoding="bytes": the official files were pickled by Python 2, so their keys and
            # strings come back as bytes (b"data", b"labels"), as the data set's page says.
            batch = _BatchUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, OSError) as error:
        reason = str(error).replace("\n", " ") or type(error).__name__
        raise UserError(f"{path} is not a readable CIFAR-10 batch ({reason}); {REREAD}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise UserError(
            f"{path} has no b'data' and b'labels' entries, so it is not a CIFAR-10 batch; {REREAD}"
        )
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise UserError(f"{path}: b'data' must be a uint8 (N, 3072) array; {REREAD}")
    if data.shape[1] != 3 * 32 * 32 or labels.shape != (data.shape[0],):
        raise UserError(
            f"{path} holds data {data.shape} and {labels.size} labels; expected data (N, 3072) "
            f"and N labels; {REREAD}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UserError(f"{path} has labels outside 0-9 (found {labels.min()}..{labels.max()})")
    # Each row is the red plane, then green, then blue, each 32 rows of 32: NCHW as it stands.
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


class CIFAR10DataModule(DownloadableSplit):
    """``data_dir`` is torchvision's root: the batches are in ``<data_dir>/cifar-10-batches-py/``
    (``batches.meta`` is not needed: the labels are read as the numbers 0-9)."""

    how_to_fix = HOW_TO_FIX
    native_size = 32
    native_channels = 3
    splits = tuple(sorted(SPLIT_FILES))

    @property
    def batches_dir(self) -> Path:
        return Path(self.data_dir) / FOLDER

    def _missing(self) -> str | None:
        names = SPLIT_FILES[self.split]
        missing = [name for name in names if not (self.batches_dir / name).is_file()]
        if not missing:
            return None
        where = f"{self.batches_dir.resolve()}/"
        return (
            f"CIFAR-10 files not found in {where} (the folder cifar-10-python.tar.gz unpacks to): "
            f"missing {', '.join(missing)}"
        )

    def _download(self) -> None:
        from torchvision.datasets import CIFAR10

        self.download_with(CIFAR10, "CIFAR-10", self.batches_dir)

    def read_split(self) -> tuple[Tensor, Tensor]:
        parts = [read_cifar_batch(self.batches_dir / name) for name in SPLIT_FILES[self.split]]
        images = np.concatenate([images for images, _ in parts])
        labels = np.concatenate([labels for _, labels in parts])
        return torch.from_numpy(images), torch.from_numpy(labels)
