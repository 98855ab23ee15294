"""Two unaligned image domains in the CycleGAN layout: ``trainA/ trainB/ [testA/ testB/]``.

The same module serves summer2winter_yosemite (``data=summer2winter``), the other public
CycleGAN sets (horse2zebra, monet2photo, ...) and any folder pair of one's own
(``data=unpaired data.root=DIR``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from gan_lightning.data.archives import ArchiveBackedFolders, PublicSets
from gan_lightning.data.image_folder import (
    DECODE_ERRORS,
    ImageFolderDataset,
    check_decoded,
    list_images,
    pil_to_signed_unit,
)
from gan_lightning.data.loading import (
    ImageDataModule,
    LoaderArg,
    held_out_loader,
    resolve_load_size,
    stack_items,
)
from gan_lightning.sizes import PositiveInt

log = logging.getLogger(__name__)

# The archive of Zhu et al.'s CycleGAN sets (their datasets/download_cyclegan_dataset.sh).
PUBLIC_SETS = PublicSets(
    "CycleGAN",
    "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip",
    (
        "apple2orange",
        "summer2winter_yosemite",
        "horse2zebra",
        "monet2photo",
        "cezanne2photo",
        "ukiyoe2photo",
        "vangogh2photo",
        "maps",
        "cityscapes",
        "facades",
        "iphone2dslr_flower",
    ),
)
DOMAINS = ("A", "B")


class UnpairedDataset(Dataset):
    """Item i: the i-th image of A and a B image drawn at random.

    The length is that of the larger domain; a random B partner (torch's generator, seeded per
    worker by Lightning) means no fixed A-B pairing exists, and the smaller domain is cycled.
    """

    def __init__(self, domain_a: Dataset, domain_b: Dataset) -> None:
        self.domain_a = domain_a
        self.domain_b = domain_b

    def __len__(self) -> int:
        return max(len(self.domain_a), len(self.domain_b))

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        partner = int(torch.randint(len(self.domain_b), ()))
        return self.domain_a[index % len(self.domain_a)][0], self.domain_b[partner][0]


def count_modes(files: Sequence[Path]) -> Counter:
    """PIL modes of the files (header only): how many images will be converted."""
    modes: Counter = Counter()
    for path in files:
        try:
            with Image.open(path) as image:
                modes[image.mode] += 1
        except DECODE_ERRORS:
            modes["unreadable"] += 1
    return modes


class UnpairedDataModule(ArchiveBackedFolders, ImageDataModule):
    """Batches ``(images_a, images_b)`` in [-1, 1].

    Training images are resized to ``load_size`` (square, as in the CycleGAN code; null:
    image_size * 286 / 256), randomly cropped to ``image_size`` and flipped; test images are
    resized to ``image_size``. Unreadable files are skipped and grey / RGBA images converted to
    ``channels`` (each counted once in the log). ``archive`` names a public CycleGAN set that
    ``download=true`` fetches into ``root``. ``limit`` applies to each domain: ``limit`` images
    of trainA/ and ``limit`` of trainB/ (each chosen by ``limit_seed``).
    """

    fetch_draws_random = True

    data_kind = "unpaired"
    num_classes = None
    public_sets = PUBLIC_SETS

    def __init__(
        self,
        root: str,
        archive: str | None = None,
        download: bool = False,
        image_size: PositiveInt = 256,
        load_size: PositiveInt | None = None,
        channels: PositiveInt = 3,
        flip: bool = True,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        super().__init__(image_size, channels, loader, limit, limit_seed)
        self.load_size = resolve_load_size(image_size, load_size)
        self._use_root(root, archive, download)
        self.flip = flip
        self.test_sets: dict[str, ImageFolderDataset] = {}

    # --- finding and fetching the folders ---------------------------------------------------------
    def _needs(self) -> str:
        return "image folders trainA/ and trainB/ (testA/, testB/ optional)"

    def _problem(self) -> str | None:
        for domain in DOMAINS:
            problem = self._missing_images(
                self.root / f"train{domain}", f" (domain {domain} is empty)"
            )
            if problem:
                return problem
        return None

    # --- data sets --------------------------------------------------------------------------------
    def train_transform(self) -> transforms.Compose:
        steps: list = [
            transforms.Resize((self.load_size, self.load_size)),
            transforms.RandomCrop(self.image_size),
        ]
        if self.flip:
            steps.append(transforms.RandomHorizontalFlip())
        return transforms.Compose([*steps, pil_to_signed_unit])

    def test_transform(self) -> transforms.Compose:
        return transforms.Compose(
            [transforms.Resize((self.image_size, self.image_size)), pil_to_signed_unit]
        )

    def _domain(self, folder: Path, transform: transforms.Compose) -> ImageFolderDataset:
        files = list_images(folder)
        modes = count_modes(files)
        target = "RGB" if self.channels == 3 else "L"
        converted = sum(n for mode, n in modes.items() if mode not in (target, "unreadable"))
        if converted:
            kinds = ", ".join(f"{n} {m}" for m, n in sorted(modes.items()) if m != target)
            log.info("converting %d image(s) in %s to %s (%s)", converted, folder, target, kinds)
        dataset = ImageFolderDataset(files, transform, self.channels)
        check_decoded(dataset, files, folder)
        return dataset

    def build(self) -> None:
        self.require_present()
        train = {
            d: self.limited(
                self._domain(self.root / f"train{d}", self.train_transform()),
                f"images of domain {d} (train{d}/)",
            )
            for d in DOMAINS
        }
        self.train_set = UnpairedDataset(train["A"], train["B"])
        self.check_fills_a_batch(
            len(self.train_set),
            f"{self.root.resolve()} has {len(self.train_set)} training images in its larger domain",
        )
        for domain in DOMAINS:
            folder = self.root / f"test{domain}"
            if not folder.is_dir() or not list_images(folder):
                log.info(
                    "no test%s/ in %s: previews and scores use train%s/", domain, self.root, domain
                )
                folder = self.root / f"train{domain}"
            self.test_sets[domain] = self._domain(folder, self.test_transform())

    def test_loader(self, domain: str, batch_size: int = 16) -> DataLoader:
        """The test images of one domain in file order (unflipped, uncropped)."""
        if not self.test_sets:
            self.setup("test")
        return held_out_loader(self.test_sets[domain], batch_size, self.loader)

    def preview_batch(self, n: int) -> tuple[Tensor, Tensor]:
        """The first ``n`` test images of each domain: the fixed inputs of the sample grids."""
        if not self.test_sets:
            self.setup("fit")
        a, b = (stack_items(self.test_sets[d], n)[0] for d in DOMAINS)
        return a, b
