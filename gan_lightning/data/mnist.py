"""MNIST held in memory; downloads through torchvision, and offline names the files it needs."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from gan_lightning.data.idx import read_idx
from gan_lightning.data.in_memory import DownloadableSplit
from gan_lightning.errors import UserError

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
HOW_TO_FIX = (
    "put them there (IDX files, optionally .gz), point data.data_dir at the folder that holds "
    "MNIST/raw/, or set data.download=true on a machine with internet"
)


class MNISTDataModule(DownloadableSplit):
    """``data_dir`` is torchvision's root: the IDX files live in ``<data_dir>/MNIST/raw/``."""

    how_to_fix = HOW_TO_FIX
    native_size = 28
    native_channels = 1
    splits = tuple(sorted(SPLIT_FILES))

    @property
    def raw_dir(self) -> Path:
        return Path(self.data_dir) / "MNIST" / "raw"

    def _find(self, name: str) -> Path | None:
        for candidate in (self.raw_dir / name, self.raw_dir / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        return None

    def _missing(self) -> str | None:
        missing = [name for name in SPLIT_FILES[self.split] if self._find(name) is None]
        if not missing:
            return None
        return f"MNIST files not found in {self.raw_dir.resolve()}: missing {', '.join(missing)}"

    def _download(self) -> None:
        from torchvision.datasets import MNIST

        self.download_with(MNIST, "MNIST", self.raw_dir)

    def read_split(self) -> tuple[Tensor, Tensor]:
        image_file, label_file = (self._find(name) for name in SPLIT_FILES[self.split])
        try:
            images, labels = read_idx(image_file), read_idx(label_file)
        except (ValueError, OSError) as error:
            raise UserError(f"{error}; delete it and copy or download it again") from None
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise UserError(
                f"MNIST files in {self.raw_dir.resolve()} do not match: images "
                f"{tuple(images.shape)}, labels {tuple(labels.shape)}; copy a matching pair"
            )
        return images.unsqueeze(1), labels.long()
