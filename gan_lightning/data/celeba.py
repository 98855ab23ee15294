"""CelebA aligned faces read as a plain folder of jpgs, decoded per batch (too large for memory).

torchvision's ``CelebA`` class needs the attribute, identity and partition files and checks md5s,
so it cannot read the bare ``img_align_celeba/`` folder that is the usual offline copy; it is
only used to download.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from torchvision import transforms

from gan_lightning.data.image_folder import ImageFolderDataset, list_images, pil_to_signed_unit
from gan_lightning.data.loading import (
    DownloadableData,
    ImageDataModule,
    LoaderArg,
    LoaderOptions,
)
from gan_lightning.errors import UserError
from gan_lightning.sizes import PositiveInt

HOW_TO_FIX = (
    "put the aligned jpgs there (img_align_celeba.zip unpacked), point data.data_dir at the "
    "folder that holds celeba/, or set data.download=true on a machine with internet"
)


class CelebADataModule(DownloadableData, ImageDataModule):
    """Unlabelled (``num_classes=None``) faces from ``<data_dir>/celeba/img_align_celeba/*.jpg``
    (or ``<data_dir>/img_align_celeba/``).

    Each image is centre-cropped to ``crop_size`` and resized to ``image_size``: 178 keeps the
    whole face of the official 178x218 images; use half the crop for the 89x109 downscaled copies.
    """

    default_loader = LoaderOptions(batch_size=64, num_workers=2)

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = False,
        image_size: PositiveInt = 64,
        channels: PositiveInt = 3,
        crop_size: PositiveInt = 178,
        num_classes: int | None = None,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        super().__init__(image_size, channels, loader, limit, limit_seed)
        if crop_size < 1:
            raise ValueError(f"crop_size must be positive, got {crop_size}")
        if num_classes is not None:
            raise ValueError(f"num_classes must be None for CelebA (unlabelled), got {num_classes}")
        self.data_dir = data_dir
        self.download = download
        self.crop_size = crop_size
        self.num_classes = num_classes

    @property
    def image_dir(self) -> Path:
        """``<data_dir>/celeba/img_align_celeba/`` (torchvision's layout, where downloads land),
        or ``<data_dir>/img_align_celeba/`` when only that one exists."""
        standard = Path(self.data_dir) / "celeba" / "img_align_celeba"
        flat = Path(self.data_dir) / "img_align_celeba"
        return flat if flat.is_dir() and not standard.is_dir() else standard

    def _problem(self) -> str | None:
        folder = self.image_dir.resolve()
        if not folder.is_dir():
            return f"CelebA image folder {folder}/ not found; {HOW_TO_FIX}"
        if not list_images(folder):
            return f"no images in {folder}/ (expected jpgs such as 000001.jpg); {HOW_TO_FIX}"
        return None

    def _download(self) -> None:
        from torchvision.datasets import CelebA

        try:
            CelebA(root=self.data_dir, split="all", download=True)
        except Exception as error:  # gdown missing, no network, Drive quota: same fix for all
            reason = str(error).replace("\n", " ") or type(error).__name__
            raise UserError(
                f"CelebA download failed ({reason}); instead put the aligned jpgs "
                f"(img_align_celeba.zip unpacked) in {self.image_dir.resolve()}/ and set "
                "data.download=false"
            ) from None

    def make_transform(self) -> transforms.Compose:
        return transforms.Compose(
            [
                transforms.CenterCrop(self.crop_size),
                transforms.Resize(self.image_size),
                pil_to_signed_unit,
            ]
        )

    def build(self) -> None:
        self.require_present()
        dataset = ImageFolderDataset(
            list_images(self.image_dir), self.make_transform(), self.channels
        )
        self.check_fills_a_batch(
            len(dataset), f"{self.image_dir.resolve()} has {len(dataset)} readable images"
        )
        self._check_crop(dataset.files[0])
        self.train_set = self.limited(dataset)

    def _check_crop(self, path: Path) -> None:
        """CenterCrop pads smaller images with black borders: refuse rather than train on those."""
        with Image.open(path) as image:
            width, height = image.size
        if self.crop_size > min(width, height):
            raise UserError(
                f"crop_size={self.crop_size} is larger than the images in {path.parent} "
                f"({width}x{height}, e.g. {path.name}); set data.crop_size={min(width, height)} "
                "or smaller"
            )
