"""A folder of image files (jpg, png, ...) decoded per item, where bad files never stop training.

Large photo sets are collected by hand and often hold a truncated download or a stray file, so
unreadable images are dropped once at set-up (with one warning that counts them), and an image
that still fails to decode mid-epoch is replaced by the next readable one instead of crashing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.functional import pil_to_tensor

from gan_lightning.data.transforms import to_signed_unit
from gan_lightning.errors import UserError
from gan_lightning.sizes import PositiveInt

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
# What PIL raises on a file that is not an image, is damaged, or is absurdly large.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name; other files and dotfiles are ignored.

    Dotfiles are skipped because macOS litters copied folders with ``._name.jpg`` companions.
    """
    return sorted(
        path
        for path in Path(folder).iterdir()
        if path.suffix.lower() in IMAGE_SUFFIXES
        and not path.name.startswith(".")
        and path.is_file()
    )


def _jpeg_ends_cleanly(path: Path) -> bool:
    """A complete JPEG ends with the EOI marker; a truncated download does not."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        handle.seek(max(0, handle.tell() - 16))
        return handle.read().rstrip(b"\x00\r\n ").endswith(b"\xff\xd9")


def find_problem(path: Path) -> str | None:
    """Why ``path`` cannot be decoded, or None when it looks fine.

    Cheap for the common cases: the header is parsed, PNG chunks are CRC-checked by ``verify()``
    and a JPEG's last bytes are checked for its end marker; anything else is fully decoded.
    """
    try:
        with Image.open(path) as image:
            kind = image.format
            image.verify()
        if kind == "PNG" or (kind == "JPEG" and _jpeg_ends_cleanly(path)):
            return None
        with Image.open(path) as image:  # verify() leaves the image unusable: open again
            image.load()
    except DECODE_ERRORS as error:
        return str(error).replace("\n", " ") or type(error).__name__
    return None


def drop_unreadable(files: Sequence[Path]) -> list[Path]:
    """``files`` without those that cannot be decoded; one warning counts what was dropped."""
    problems = [find_problem(path) for path in files]  # ~0.1 ms a file: 20 s for all of CelebA
    bad = [(path, why) for path, why in zip(files, problems, strict=True) if why is not None]
    if bad:
        first, why = bad[0]
        log.warning(
            "skipped %d unreadable image(s) in %s (e.g. %s: %s)",
            len(bad),
            first.parent,
            first.name,
            why,
        )
    return [path for path, why in zip(files, problems, strict=True) if why is None]


def convert_image(image: Image.Image, channels: int) -> Image.Image:
    """Grey (``channels=1``) or RGB (3); transparent images are flattened onto white first."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert("RGB" if channels == 3 else "L")


def pil_to_signed_unit(image: Image.Image) -> Tensor:
    """PIL image -> float CHW in [-1, 1], the same scaling as the in-memory sets."""
    return to_signed_unit(pil_to_tensor(image))


def check_decoded(dataset: Dataset, files: Sequence[Path], folder: Path) -> None:
    """UserError when none of ``files`` in ``folder`` made it into ``dataset``."""
    if len(dataset) == 0:
        raise UserError(
            f"none of the {len(files)} images in {folder.resolve()}/ could be decoded; "
            "replace the files"
        )


class ImageFolderDataset(Dataset):
    """Unlabelled images from files; items are ``(float CHW in [-1, 1], tensor(-1))``.

    ``transform`` maps the converted PIL image to the final tensor (default: no resizing) and must
    end in [-1, 1], e.g. with :func:`pil_to_signed_unit`.
    """

    def __init__(
        self,
        files: Sequence[Path],
        transform: Callable[[Image.Image], Tensor] | None = None,
        channels: PositiveInt = 3,
    ) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.files = drop_unreadable([Path(path) for path in files])
        self.transform = transform if transform is not None else pil_to_signed_unit
        self.channels = channels
        self.decode_failures = 0  # per process: each data-loader worker counts its own
        self._failed: set[int] = set()

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> Image.Image:
        with Image.open(self.files[index]) as image:
            return convert_image(image, self.channels)  # convert() decodes: errors surface here

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        count = len(self.files)
        for step in range(count):
            candidate = (index + step) % count  # deterministic stand-in: the next readable file
            if candidate in self._failed:
                continue
            try:
                image = self.load(candidate)
            except DECODE_ERRORS as error:
                self._failed.add(candidate)
                self.decode_failures += 1
                log.warning(
                    "could not decode %s (%s); using the next image instead (%d failure(s) so far)",
                    self.files[candidate],
                    str(error).replace("\n", " ") or type(error).__name__,
                    self.decode_failures,
                )
                continue
            return self.transform(image), torch.tensor(-1)
        folder = self.files[0].parent if self.files else "the image folder"
        raise UserError(f"none of the {count} images in {folder} could be decoded")
