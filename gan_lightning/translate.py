"""Translate a folder of images with an image-to-image checkpoint (CycleGAN or Pix2Pix).

    python -m gan_lightning.translate ckpt=PATH input=DIR output=DIR [direction=AtoB|BtoA]
        [size=train|native] [batch_size=8] [paired=false]

``direction`` picks CycleGAN's generator; a Pix2Pix model translates one way only (its training
input to its target), so it takes no ``direction``. ``paired=true`` reads side-by-side A|B
files (the pix2pix layout) and translates their source half: A for AtoB, B for BtoA (a Pix2Pix
model: the half it was trained on, by its ``data.direction``).

The keys and their defaults are ``conf/translate.yaml``. One output image per input image, same
file name and format, same width and height as the input. ``size=train`` (default) resizes each
image to the training size, translates it and resizes the result back; ``size=native``
translates at the image's own size (reflection-padded to what the generator's strides need, then
cropped): sharper for large images, but more memory. Files that are not images, or cannot be
decoded, are skipped and counted. The output folder is written under a temporary name and
renamed when complete; a non-empty ``output`` is never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torchvision.transforms.functional import to_pil_image

from gan_lightning.atomic import atomic_path
from gan_lightning.commands import command_args, run_command
from gan_lightning.data.image_folder import (
    DECODE_ERRORS,
    convert_image,
    list_images,
    pil_to_signed_unit,
)
from gan_lightning.data.transforms import to_uint8
from gan_lightning.errors import UserError
from gan_lightning.generation import generate_in_eval_mode
from gan_lightning.inference import (
    CYCLE_GENERATORS,
    PAIRED,
    UNPAIRED,
    StoredRun,
    inference_device,
    inference_kind,
)


@dataclass(frozen=True)
class TranslateArgs:
    """The command's arguments, in the order an unknown key lists them (conf/translate.yaml)."""

    ckpt: str
    input: str
    output: str
    direction: str | None
    size: str
    batch_size: int
    paired: bool
    ema: bool

    def __post_init__(self) -> None:
        for key in ("ckpt", "input", "output"):
            if getattr(self, key) is None:
                raise UserError(f"give {key}=...: ckpt=PATH input=DIR output=DIR")
        if self.direction is not None and self.direction not in CYCLE_GENERATORS:
            raise UserError(f"direction={self.direction!r}: use AtoB or BtoA")
        if self.size not in ("train", "native"):
            raise UserError(f"size={self.size!r}: use train or native")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be positive, got {self.batch_size}")


@dataclass
class Translator:
    generator: nn.Module
    config: Any  # the run config
    label: str  # what the output is called in the closing line
    source_side: str  # the half of a side-by-side A|B file it reads: AtoB (A) or BtoA (B)


def cyclegan_translator(args: TranslateArgs, run: StoredRun) -> Translator:
    """The generator of ``direction``."""
    direction = args.direction or "AtoB"
    name = CYCLE_GENERATORS[direction]
    networks, config = run.networks([name], args.ema)
    return Translator(networks[name], config, direction, direction)


def pix2pix_translator(args: TranslateArgs, run: StoredRun) -> Translator:
    """Its only generator, from its training input to its target."""
    if args.direction is not None:
        raise UserError(
            "a Pix2Pix model translates one way only (its training input to its target); "
            "leave out direction="
        )
    networks, config = run.networks(["generator"], args.ema)
    trained = str(config.data.get("direction", "AtoB"))
    return Translator(networks["generator"], config, "input -> target", trained)


# the kinds of inference.VARIANTS this command runs
TRANSLATORS: dict[str, Callable[[TranslateArgs, StoredRun], Translator]] = {
    UNPAIRED: cyclegan_translator,
    PAIRED: pix2pix_translator,
}


def input_half(image: Image.Image, direction: str, path: Path) -> Image.Image:
    """The source half of a side-by-side A|B file: A (left) for AtoB, B (right) for BtoA."""
    width, height = image.size
    if width != 2 * height:
        raise UserError(
            f"paired=true: {path} is {width}x{height}, not two halves side by side "
            "(width = 2 x height); leave out paired=true for plain input images"
        )
    left = direction == "AtoB"
    box = (0, 0, width // 2, height) if left else (width // 2, 0, width, height)
    return image.crop(box)


def translate_at_native_size(generator: nn.Module, image: Tensor, multiple: int) -> Tensor:
    """Reflection-pad (1, C, H, W) up to multiples of ``multiple``, translate, crop back."""
    height, width = image.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    padded = F.pad(image, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else image
    return generate_in_eval_mode(generator, padded)[..., :height, :width]


def translate_at_train_size(
    generator: nn.Module, images: Tensor, sizes: list[tuple[int, int]]
) -> list[Tensor]:
    """Translate a batch already resized to the training size; resize each result back."""
    outputs = generate_in_eval_mode(generator, images)
    return [
        F.interpolate(out[None], size=(h, w), mode="bicubic", antialias=True)[0].clamp(-1, 1)
        for out, (w, h) in zip(outputs, sizes, strict=True)
    ]


def save(image: Tensor, path: Path) -> None:
    """(C, H, W) in [-1, 1] -> the file's format; jpgs at quality 95."""
    pil = to_pil_image(to_uint8(image.cpu()))
    options = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    pil.save(path, **options)


def read_input(path: Path, channels: int, args: TranslateArgs, source_side: str) -> Image.Image:
    with Image.open(path) as opened:
        image = convert_image(opened, channels)
    return input_half(image, source_side, path) if args.paired else image


def translate_folder(
    args: TranslateArgs, translator: Translator, files: list[Path]
) -> tuple[int, list[str]]:
    """Write the translation of each of ``files`` under ``args.output``, all or nothing:
    (images written, names of the files that could not be decoded)."""
    device = inference_device()
    generator, config = translator.generator.to(device), translator.config
    channels = int(getattr(generator, "in_channels", None) or config.data.channels)
    image_size = int(config.data.image_size)
    multiple = int(getattr(generator, "stride_product", 8))
    written, failed = 0, []
    with atomic_path(Path(args.output)) as partial:
        partial.mkdir(parents=True)
        for start in range(0, len(files), args.batch_size):
            chunk, images, sizes = [], [], []
            for path in files[start : start + args.batch_size]:
                try:
                    image = read_input(path, channels, args, translator.source_side)
                except DECODE_ERRORS:
                    failed.append(path.name)
                    continue
                chunk.append(path)
                sizes.append(image.size)
                if args.size == "train":
                    image = image.resize((image_size, image_size), Image.Resampling.BICUBIC)
                images.append(pil_to_signed_unit(image).to(device))
            if not chunk:
                continue
            if args.size == "train":
                results = translate_at_train_size(generator, torch.stack(images), sizes)
            else:
                results = [
                    translate_at_native_size(generator, x[None], multiple)[0] for x in images
                ]
            for path, result in zip(chunk, results, strict=True):
                save(result, partial / path.name)
                written += 1
        if written == 0:
            raise UserError(f"none of the {len(files)} images in {args.input} could be decoded")
    return written, failed


def main(argv: Sequence[str]) -> Path:
    args = command_args(TranslateArgs, "translate", argv)
    source, out = Path(args.input), Path(args.output)
    if not source.is_dir():
        raise UserError(f"input={source} is not a folder of images")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"output={out} already exists and is not empty; choose another output=")
    if out.resolve() == source.resolve():
        raise UserError("output= must differ from input=: inputs are never overwritten")
    run = StoredRun.read(args.ckpt)
    translator = TRANSLATORS[inference_kind("translate", args.ckpt, run.extras)](args, run)
    files = list_images(source)
    images = set(files)
    others = sum(1 for p in source.iterdir() if p.is_file() and p not in images)
    if not files:
        raise UserError(f"no images (jpg, png, bmp, webp) in {source}")
    written, failed = translate_folder(args, translator, files)
    skipped = f"; skipped {others} non-image file(s)" if others else ""
    if failed:
        skipped += f"; skipped {len(failed)} unreadable image(s), e.g. {failed[0]}"
    print(f"translated {written} image(s) {translator.label}: {out}{skipped}")
    return out


if __name__ == "__main__":
    run_command(main)
