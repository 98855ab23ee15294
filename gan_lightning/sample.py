"""Draw samples from a checkpoint's generator (no pickled code is loaded).

    python -m gan_lightning.sample ckpt=PATH [n=64] [out=DIR] [labels=3,7] [grid=true]
        [truncation=0.7] [seed=0] [interpolate=STEPS seeds=A,B]
    python -m gan_lightning.sample ckpt=STACKGAN.ckpt text="a handwritten three|a thin 7"
        [n=8] [stage=1|2] [seed=0] [embeddings=FILE]

The keys and their defaults are ``conf/sample.yaml``. Text-to-image checkpoints (model=stackgan)
draw ``n`` images per caption (captions separated by ``|``; without ``text`` the run's grid
captions), one row per caption when n <= 16, from stage II (``stage=1``: stage I). Words the
model never saw read as ``<unk>``, with a warning. A model trained on pre-computed sentence
vectors (``data.embeddings_file``) looks ``text``'s captions up in ``embeddings=FILE``; without
``text`` it draws its grid captions, whose vectors the checkpoint keeps.

Images are written one PNG each (``sample_0000.png`` ...) plus ``grid.png``; 2-D generators
write ``points.csv`` and ``scatter.png``. The folder is assembled under a temporary name and
renamed when complete, and an existing non-empty ``out`` is never overwritten.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torchvision.utils import make_grid, save_image

from gan_lightning.atomic import atomic_path
from gan_lightning.commands import command_args, run_command
from gan_lightning.errors import UserError
from gan_lightning.inference import (
    LATENT,
    TEXT,
    StoredRun,
    inference_device,
    inference_kind,
)
from gan_lightning.plots import FAKE_COLOUR, scatter_image
from gan_lightning.sampling import Sampler, slerp
from gan_lightning.text import MAX_CAPTION_WORDS, SentenceEmbeddings, encode_captions


@dataclass(frozen=True)
class SampleArgs:
    """The command's arguments, in the order an unknown key lists them (conf/sample.yaml)."""

    ckpt: str
    n: int
    out: str | None
    labels: str | None
    grid: bool
    truncation: float | None
    seed: int
    interpolate: int | None
    seeds: str | None
    batch_size: int
    text: str | None
    stage: int | None
    embeddings: str | None
    ema: bool

    def __post_init__(self) -> None:
        if self.ckpt is None:
            raise UserError("give a checkpoint: ckpt=PATH")
        if self.n < 1:
            raise UserError(f"n must be positive, got {self.n}")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be positive, got {self.batch_size}")


def _int_list(name: str, raw: str) -> list[int]:
    try:
        return [int(part) for part in raw.split(",") if part != ""]
    except ValueError:
        raise UserError(f"{name}={raw!r}: expected comma-separated integers, e.g. 3,7") from None


def requested_labels(sampler: Sampler, raw: str | None, n: int) -> Tensor | None:
    """Labels for ``n`` samples: the listed classes in equal blocks, else every class in turn."""
    if raw is None:
        if not sampler.conditional:
            return None
        classes = list(range(sampler.num_classes))
    else:
        classes = _int_list("labels", raw)
        if not classes:
            raise UserError("labels= is empty; list classes such as labels=3,7")
    try:
        tensor = sampler.check_labels(torch.tensor(classes))
    except ValueError as error:
        raise UserError(f"labels: {error}") from None
    per_class = math.ceil(n / len(classes))
    return tensor.repeat_interleave(per_class)[:n]


def interpolation(sampler: Sampler, args: SampleArgs, labels: Tensor | None) -> Tensor:
    """``interpolate`` samples on the path between the latents of two seeds."""
    steps = args.interpolate or 0
    if steps < 2:
        raise UserError(f"interpolate needs at least 2 steps, got {steps}")
    ends = _int_list("seeds", args.seeds or f"{args.seed},{args.seed + 1}")
    if len(ends) != 2:
        raise UserError("seeds= needs two seeds, e.g. seeds=1,2")
    a, b = (sampler.latent(1, torch.Generator().manual_seed(s))[0] for s in ends)
    if sampler.latent_distribution == "normal":
        z = slerp(a, b, steps)
    else:  # uniform latents fill a cube: a straight line stays inside it
        z = torch.stack([a + (b - a) * t for t in torch.linspace(0, 1, steps)])
    row_labels = None if labels is None else labels[:1].repeat(steps)
    return sampler.generate(z, row_labels)


def generate(sampler: Sampler, args: SampleArgs) -> tuple[Tensor, int]:
    """(samples, images per grid row)."""
    labels = requested_labels(sampler, args.labels, args.n)
    if args.interpolate:
        return interpolation(sampler, args, labels), args.interpolate
    batches = sampler.batches(args.n, args.batch_size, args.seed, labels)
    samples = torch.cat([fake for fake, _ in batches])
    per_class = math.ceil(args.n / len(labels.unique())) if labels is not None else 0
    return samples, per_class if 0 < per_class <= 16 else 8  # one row per class when it fits


TEXT_ONLY = ("text", "stage", "embeddings")


def generate_images(args: SampleArgs, run: StoredRun) -> tuple[Tensor, int]:
    """(samples, images per row) of a generator of latents (GAN, DCGAN, cGAN, 2-D)."""
    extras = run.extras
    given = [key for key in TEXT_ONLY if getattr(args, key) is not None]
    if given:
        raise UserError(
            f"{given[0]}= is for text-to-image checkpoints (model=stackgan); "
            f"{args.ckpt} is a {extras.get('variant')} checkpoint"
        )
    networks, config = run.networks(["generator"], args.ema)
    generator = networks["generator"].to(inference_device())
    sampler = Sampler.from_config(generator, config, extras.get("latent"))
    sampler.truncation = args.truncation
    try:
        return generate(sampler, args)
    except ValueError as error:
        raise UserError(str(error)) from None


def write_outputs(samples: Tensor, per_row: int, folder: Path, grid: bool) -> None:
    folder.mkdir(parents=True)
    samples = samples.cpu()
    if samples.ndim == 2:  # 2-D points
        lines = ["x,y"] + [f"{x:.6f},{y:.6f}" for x, y in samples.tolist()]
        (folder / "points.csv").write_text("\n".join(lines) + "\n")
        extent = max(float(samples.abs().max()), 1e-3) * 1.1
        image = scatter_image([(samples, FAKE_COLOUR)], extent)
        save_image((image + 1) / 2, folder / "scatter.png")
        return
    for index, image in enumerate(samples):
        save_image(image, folder / f"sample_{index:04d}.png", normalize=True, value_range=(-1, 1))
    if grid:
        sheet = make_grid(samples, nrow=per_row, normalize=True, value_range=(-1, 1))
        save_image(sheet, folder / "grid.png")


# --- text to image ------------------------------------------------------------------------------
TEXT_NETS = ("text_encoder", "conditioning", "stage1", "conditioning2", "stage2")


def split_captions(raw: str) -> list[str]:
    captions = [part.strip() for part in raw.split("|")]
    if not any(captions) or not all(captions):
        raise UserError(f'text={raw!r} has an empty caption; write e.g. text="a handwritten three"')
    return captions


def caption_table(
    extras: dict[str, Any], embeddings: str | None, given: bool
) -> SentenceEmbeddings | None:
    """The sentence vectors a checkpoint trained on pre-computed vectors reads captions as (None:
    it reads words): ``embeddings=``'s file, else the grid captions' vectors it keeps;
    ``given``: the captions came from ``text=`` (not the stored grid captions)."""
    vectors = extras.get("grid_vectors")
    if extras.get("vocabulary"):  # a word encoder
        if embeddings is not None:
            raise UserError(
                "embeddings= is for models trained on pre-computed sentence vectors "
                "(data.embeddings_file); this one reads words, drop embeddings="
            )
        return None
    if vectors is None:
        raise UserError("the checkpoint has neither a vocabulary nor sentence vectors to sample")
    if embeddings is None and given:
        raise UserError(
            "this model reads pre-computed sentence vectors: give the file that holds the "
            "captions' vectors, embeddings=FILE (or drop text= to draw the grid captions)"
        )
    if embeddings is None:
        return SentenceEmbeddings(extras["grid_captions"], vectors, "the checkpoint")
    table = SentenceEmbeddings.load(embeddings)
    if table.dim != vectors.shape[1]:
        raise UserError(
            f"{embeddings} holds {table.dim}-d vectors but this model reads "
            f"{vectors.shape[1]}-d ones; give the file it was trained with (or one from "
            "the same encoder)"
        )
    return table


def _warn_unknown(words: list[str]) -> None:
    print(f"warning: not in the model's vocabulary, read as <unk>: {', '.join(words)}")


def caption_input(
    extras: dict[str, Any], captions: list[str], embeddings: str | None, given: bool
) -> tuple[Tensor, Tensor]:
    """(token ids or sentence vectors, lengths) of ``captions`` as the checkpoint's encoder reads
    them (``given``: as in ``caption_table``)."""
    table = caption_table(extras, embeddings, given)
    vocabulary = extras.get("vocabulary")
    return encode_captions(captions, vocabulary, table, MAX_CAPTION_WORDS, _warn_unknown)


def text_stage(args: SampleArgs, extras: dict[str, Any]) -> int:
    """The stage to draw from: ``stage=``, else the last one the checkpoint trained."""
    for key in ("labels", "interpolate", "truncation"):
        if getattr(args, key) is not None:
            raise UserError(f"{key}= does not apply to a text-to-image checkpoint; use text=")
    trained = str(extras.get("stage"))
    stage = args.stage or (1 if trained == "1" else 2)
    if stage not in (1, 2):
        raise UserError(f"stage must be 1 or 2, got {stage}")
    if stage == 2 and trained == "1":
        raise UserError(f"{args.ckpt} trained stage I only; sample it with stage=1")
    return stage


def generate_from_text(args: SampleArgs, run: StoredRun) -> tuple[Tensor, int]:
    """(samples, images per row) of a StackGAN checkpoint: ``n`` images per caption."""
    from gan_lightning.nets.stackgan import draw

    extras = run.extras
    stage = text_stage(args, extras)
    given = args.text is not None
    captions = split_captions(args.text) if given else list(extras.get("grid_captions") or [])
    if not captions:
        raise UserError('give captions: text="a handwritten three" (several: separated by |)')
    nets, _ = run.networks(list(TEXT_NETS), args.ema)
    device = inference_device()
    nets = {name: net.to(device) for name, net in nets.items()}
    every = [caption for caption in captions for _ in range(args.n)]
    text, lengths = caption_input(extras, every, args.embeddings, given)
    rng = torch.Generator().manual_seed(args.seed)
    images = []
    for start in range(0, len(every), args.batch_size):
        size = min(args.batch_size, len(every) - start)
        z = torch.randn(size, nets["stage1"].latent_dim, generator=rng)
        noise = tuple(
            torch.randn(size, nets[name].condition_dim, generator=rng).to(device)
            for name in ("conditioning", "conditioning2")
        )
        part = slice(start, start + size)
        with torch.no_grad():
            low, high = draw(
                nets, text[part].to(device), lengths[part].to(device), z.to(device), stage, noise
            )
        images.append((low if stage == 1 else high).float().cpu())
    return torch.cat(images), args.n if args.n <= 16 else 8


# the kinds of inference.VARIANTS this command runs
DRAW: dict[str, Callable[[SampleArgs, StoredRun], tuple[Tensor, int]]] = {
    LATENT: generate_images,
    TEXT: generate_from_text,
}


def main(argv: Sequence[str]) -> Path:
    args = command_args(SampleArgs, "sample", argv)
    run = StoredRun.read(args.ckpt)  # a bad ckpt is the first error
    out = Path(args.out or Path(args.ckpt).with_suffix("").as_posix() + "_samples")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty; choose another out=")
    samples, per_row = DRAW[inference_kind("sample", args.ckpt, run.extras)](args, run)
    with atomic_path(out) as partial:  # replaces an empty out folder, checked above
        write_outputs(samples, per_row, partial, args.grid)
    print(f"{samples.shape[0]} samples: {out}")
    return out


if __name__ == "__main__":
    run_command(main)
