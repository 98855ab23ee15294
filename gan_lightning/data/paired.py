"""Aligned image pairs (A, B) for pix2pix: the side-by-side layout of the public sets.

Each file of ``train/ val/ test/`` holds A on its left half and B on its right (facades,
cityscapes, maps, edges2shoes, ...); ``direction=BtoA`` swaps the roles. Both halves get the
same random crop and flip, so the pair stays aligned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from gan_lightning.data.archives import ArchiveBackedFolders, PublicSets
from gan_lightning.data.image_folder import (
    DECODE_ERRORS,
    ImageFolderDataset,
    check_decoded,
    convert_image,
    list_images,
    pil_to_signed_unit,
)
from gan_lightning.data.loading import (
    ImageDataModule,
    LoaderArg,
    check_image_args,
    held_out_loader,
    resolve_load_size,
    stack_items,
)
from gan_lightning.errors import UserError
from gan_lightning.sizes import PositiveInt

log = logging.getLogger(__name__)

# The archive of Isola et al.'s pix2pix sets (their datasets/download_pix2pix_dataset.sh).
PUBLIC_SETS = PublicSets(
    "pix2pix",
    "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz",
    ("facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day"),
)
DIRECTIONS = ("AtoB", "BtoA")


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")


class PairedImageData(ImageDataModule):
    """What every paired data module shares: ``(input, target)`` batches in [-1, 1], a fixed
    preview batch for the sample grids and a held-out loader for the scores.

    Subclasses set ``train_set`` and ``test_set`` (items ``(input, target)``) in ``build``, and
    then call ``_finish_train_set`` (the batch check and ``limit``, counted in pairs).
    ``channels`` is the target's: the generator's output, which the image metrics score.
    """

    data_kind = "paired"
    num_classes = None

    def __init__(
        self,
        image_size: PositiveInt,
        in_channels: PositiveInt,
        out_channels: PositiveInt,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        check_image_args(image_size, in_channels)
        super().__init__(image_size, out_channels, loader, limit, limit_seed)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.test_set: Dataset | None = None

    def _finish_train_set(self, where: str) -> None:
        """Check that the training pairs fill a batch, then apply ``limit`` to them."""
        assert self.train_set is not None
        self.check_fills_a_batch(
            len(self.train_set), f"{where} has {len(self.train_set)} training pairs"
        )
        self.train_set = self.limited(self.train_set, "pairs")

    def test_loader(self, batch_size: int = 16) -> DataLoader:
        """Held-out pairs in a fixed order, uncropped and unflipped."""
        if self.test_set is None:
            self.setup("test")
        return held_out_loader(self.test_set, batch_size, self.loader)

    def preview_batch(self, n: int) -> tuple[Tensor, Tensor]:
        """The first ``n`` held-out pairs: the fixed inputs of the sample grids."""
        if self.test_set is None:
            self.setup("fit")
        assert self.test_set is not None
        inputs, targets = stack_items(self.test_set, n)
        return inputs, targets


def find_unpaired_shape(files: Sequence[Path]) -> tuple[Path, tuple[int, int]] | None:
    """The first file whose width is not twice its height (header only), with its size."""
    for path in files:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except DECODE_ERRORS:
            continue  # unreadable files are dropped (and counted) by ImageFolderDataset
        if width != 2 * height:
            return path, (width, height)
    return None


class SideBySideTransform:
    """A decoded A|B image -> ``(input, target)`` tensors: the halves (swapped for BtoA),
    resized to ``load_size``, one shared random crop to ``image_size`` and one shared flip."""

    def __init__(
        self,
        image_size: PositiveInt,
        channels: tuple[int, int],
        direction: str = "AtoB",
        load_size: PositiveInt | None = None,
        flip: bool = False,
    ) -> None:
        check_direction(direction)
        self.image_size = image_size
        self.load_size = load_size or image_size
        self.channels = channels
        self.direction = direction
        self.flip = flip

    def __call__(self, image: Image.Image) -> tuple[Tensor, Tensor]:
        width, height = image.size
        halves = [
            image.crop((0, 0, width // 2, height)),
            image.crop((width // 2, 0, width // 2 * 2, height)),
        ]
        if self.direction == "BtoA":
            halves.reverse()
        size, load = self.image_size, self.load_size
        halves = [h.resize((load, load), Image.Resampling.BICUBIC) for h in halves]
        if load > size:
            top, left = (int(torch.randint(load - size + 1, ())) for _ in range(2))
            halves = [h.crop((left, top, left + size, top + size)) for h in halves]
        if self.flip and bool(torch.rand(()) < 0.5):
            halves = [h.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for h in halves]
        source, target = (
            pil_to_signed_unit(convert_image(h, c))
            for h, c in zip(halves, self.channels, strict=True)
        )
        return source, target


class SideBySideDataset(Dataset):
    """Items ``(input, target)`` cut from side-by-side files, with one shared random crop and
    flip for training (``load_size`` then ``image_size``), or a plain resize for testing.
    Decoding, and skipping a file that fails mid-epoch, are ``ImageFolderDataset``'s."""

    def __init__(
        self,
        files: Sequence[Path],
        image_size: PositiveInt,
        in_channels: PositiveInt,
        out_channels: PositiveInt,
        direction: str = "AtoB",
        load_size: PositiveInt | None = None,
        flip: bool = False,
    ) -> None:
        pair = SideBySideTransform(
            image_size, (in_channels, out_channels), direction, load_size, flip
        )
        self.images = ImageFolderDataset(files, pair, channels=3)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index][0]


class PairedDataModule(ArchiveBackedFolders, PairedImageData):
    """``root`` holds ``train/`` and ``val/`` and/or ``test/`` of side-by-side images.

    Training pairs are resized to ``load_size`` (null: image_size * 286 / 256, as pix2pix), then
    cropped to ``image_size`` at one random position and flipped together. Held-out pairs
    (``test/``, else ``val/``, else the training files) are resized to ``image_size``.
    ``archive`` names a public pix2pix set that ``download=true`` fetches into ``root``.
    """

    fetch_draws_random = True

    public_sets = PUBLIC_SETS

    def __init__(
        self,
        root: str,
        archive: str | None = None,
        download: bool = False,
        direction: str = "AtoB",
        image_size: PositiveInt = 256,
        load_size: PositiveInt | None = None,
        in_channels: PositiveInt = 3,
        out_channels: PositiveInt = 3,
        flip: bool = True,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        super().__init__(image_size, in_channels, out_channels, loader, limit, limit_seed)
        check_direction(direction)
        self.load_size = resolve_load_size(image_size, load_size)
        self._use_root(root, archive, download)
        self.direction = direction
        self.flip = flip

    def _needs(self) -> str:
        return "a folder train/ of side-by-side A|B images (val/, test/ optional)"

    def _problem(self) -> str | None:
        return self._missing_images(self.root / "train")

    def _files(self, folder: Path) -> list[Path]:
        files = list_images(folder)
        odd = find_unpaired_shape(files)
        if odd is not None:
            path, (width, height) = odd
            raise UserError(
                f"{path} is {width}x{height}, but a paired image holds A and B side by side "
                f"(width = 2 x height); fix or remove it (for unaligned A/B folders use "
                "model=cyclegan data=unpaired)"
            )
        return files

    def build(self) -> None:
        self.require_present()
        common = (self.image_size, self.in_channels, self.out_channels, self.direction)
        train_files = self._files(self.root / "train")
        self.train_set = SideBySideDataset(train_files, *common, self.load_size, self.flip)
        check_decoded(self.train_set, train_files, self.root / "train")
        self._finish_train_set(str(self.root.resolve()))
        for name in ("test", "val"):  # the first held-out folder with a readable pair
            folder = self.root / name
            if folder.is_dir() and list_images(folder):
                held_out = SideBySideDataset(self._files(folder), *common)
                if len(held_out):
                    self.test_set = held_out
                    return
                log.warning("no readable pair in %s/: it is not used", folder)
        log.info("no test/ or val/ pairs in %s: previews and scores use train/", self.root)
        self.test_set = SideBySideDataset(train_files, *common)
