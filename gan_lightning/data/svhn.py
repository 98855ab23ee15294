"""SVHN (32x32 house-number digits) held in memory, read from the official ``.mat`` files.

The ``.mat`` files are opened with scipy rather than torchvision's ``SVHN`` class, because that
class checks each file's md5 and so rejects subsets and re-saved copies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gan_lightning.data.in_memory import DownloadableSplit, folders_to_make, remove_if_empty
from gan_lightning.errors import UserError

SPLITS = ("train", "test", "extra")
URL = "http://ufldl.stanford.edu/housenumbers/{file}"
HOW_TO_FIX = (
    "put the file there, point data.data_dir at the folder that holds svhn/, "
    "or set data.download=true on a machine with internet"
)


class SVHNDataModule(DownloadableSplit):
    """Reads ``<data_dir>/svhn/<split>_32x32.mat`` (or ``<data_dir>/<split>_32x32.mat``)."""

    how_to_fix = HOW_TO_FIX
    native_size = 32
    native_channels = 3
    splits = SPLITS

    @property
    def file_name(self) -> str:
        return f"{self.split}_32x32.mat"

    @property
    def svhn_dir(self) -> Path:
        """Where downloads go, and the first place looked."""
        return Path(self.data_dir) / "svhn"

    def _find(self) -> Path | None:
        for candidate in (self.svhn_dir / self.file_name, Path(self.data_dir) / self.file_name):
            if candidate.is_file():
                return candidate
        return None

    def _missing(self) -> str | None:
        if self._find() is not None:
            return None
        return f"SVHN file {self.file_name} not found in {self.svhn_dir.resolve()}"

    def _download(self) -> None:
        from torchvision.datasets.utils import download_url

        url = URL.format(file=self.file_name)
        made = folders_to_make(self.svhn_dir)
        try:
            download_url(url, root=str(self.svhn_dir), filename=self.file_name)
        except Exception as error:  # network failures come in many types; same fix for all
            partial = self.svhn_dir / self.file_name
            partial.unlink(missing_ok=True)  # a half-written file would pass _find() later
            remove_if_empty(made)
            raise self.download_failed(f"SVHN download from {url}", error) from None

    def read_split(self) -> tuple[Tensor, Tensor]:
        path = self._find()
        assert path is not None  # prepare_data() raised otherwise
        return read_svhn_mat(path)


def read_svhn_mat(path: Path) -> tuple[Tensor, Tensor]:
    """uint8 NCHW images and long labels 0-9 from one SVHN ``.mat``; UserError naming the file."""
    from scipy.io import loadmat

    fix = "delete it and copy or download it again"
    try:
        mat = loadmat(str(path), variable_names=["X", "y"])
    except Exception as error:  # scipy raises ValueError, OSError, MatReadError, zlib errors, ...
        reason = str(error).replace("\n", " ") or type(error).__name__
        raise UserError(f"{path} is not a readable SVHN .mat file ({reason}); {fix}") from None
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None:
        raise UserError(f"{path} has no 'X' and 'y' arrays, so it is not an SVHN .mat file; {fix}")
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or y.size != x.shape[3]:
        raise UserError(
            f"{path} holds X {x.shape} and y {y.shape}; expected X (32, 32, 3, N) and y (N, 1)"
        )
    labels = y.reshape(-1).astype(np.int64)
    labels[labels == 10] = 0  # SVHN writes the digit 0 as class 10
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UserError(f"{path} has labels outside 1-10 (found {labels.min()}..{labels.max()})")
    images = np.ascontiguousarray(x.transpose(3, 2, 0, 1)).astype(np.uint8, copy=False)
    return torch.from_numpy(images), torch.from_numpy(labels)
