"""Draw samples from a checkpoint's generator (no pickled code is loaded).

    python -m gan_lightning.sample ckpt=PATH [n=64] [out=DIR] [labels=3,7] [grid=true]
        [truncation=0.7] [seed=0] [interpolate=STEPS seeds=A,B]
    python -m gan_lightning.sample ckpt=STACKGAN.ckpt text="a handwritten three|a thin 7"
        [n=8] [stage=1|2] [seed=0] [embeddings=FILE]

Text-to-image checkpoints (model=stackgan) draw ``n`` images per caption (captions separated
by ``|``; without ``text`` the run's grid captions), one row per caption when n <= 16, from
stage II (``stage=1``: stage I). Words the model never saw read as ``<unk>``, with a warning.
A model trained on pre-computed sentence vectors (``data.embeddings_file``) looks ``text``'s
captions up in ``embeddings=FILE``; without ``text`` it draws its grid captions, whose vectors
the checkpoint keeps.

Images are written one PNG each (``sample_0000.png`` ...) plus ``grid.png``; 2-D generators
write ``points.csv`` and ``scatter.png``. The folder is assembled under a temporary name and
renamed when complete, and an existing non-empty ``out`` is never overwritten.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import make_grid, save_image

from gan_lightning.atomic import atomic_path
from gan_lightning.checkpoints import load_checkpoint, load_network, load_networks
from gan_lightning.commands import parse_key_values, run_command
from gan_lightning.errors import UserError
from gan_lightning.models.adversarial import CHECKPOINT_KEY
from gan_lightning.plots import FAKE_COLOUR, scatter_image
from gan_lightning.sampling import Sampler, slerp
from gan_lightning.text import SentenceEmbeddings, Vocabulary, tokenize

ARGUMENTS = {
    "ckpt": str,
    "n": int,
    "out": str,
    "labels": str,
    "grid": bool,
    "truncation": float,
    "seed": int,
    "interpolate": int,
    "seeds": str,
    "batch_size": int,
    "text": str,
    "stage": int,
    "embeddings": str,
}


def parse_arguments(argv: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs, checked against ARGUMENTS; one clear line per mistake."""
    defaults = {"n": 64, "grid": True, "seed": 0, "batch_size": 256}
    values = parse_key_values(argv, ARGUMENTS, defaults)
    if "ckpt" not in values:
        raise UserError("give a checkpoint: ckpt=PATH")
    if values["n"] < 1:
        raise UserError(f"n must be positive, got {values['n']}")
    return values


def _int_list(name: str, raw: str) -> list[int]:
    try:
        return [int(part) for part in raw.split(",") if part != ""]
    except ValueError:
        raise UserError(f"{name}={raw!r}: expected comma-separated integers, e.g. 3,7") from None


def requested_labels(sampler: Sampler, raw: str | None, n: int, seed: int) -> torch.Tensor | None:
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


def generate(sampler: Sampler, args: dict[str, Any]) -> tuple[torch.Tensor, int]:
    """(samples, images per grid row)."""
    n, seed = args["n"], args["seed"]
    labels = requested_labels(sampler, args.get("labels"), n, seed)
    if args.get("interpolate"):
        steps = args["interpolate"]
        if steps < 2:
            raise UserError(f"interpolate needs at least 2 steps, got {steps}")
        ends = _int_list("seeds", args.get("seeds", f"{seed},{seed + 1}"))
        if len(ends) != 2:
            raise UserError("seeds= needs two seeds, e.g. seeds=1,2")
        a, b = (sampler.latent(1, torch.Generator().manual_seed(s))[0] for s in ends)
        if sampler.latent_distribution == "normal":
            z = slerp(a, b, steps)
        else:  # uniform latents fill a cube: a straight line stays inside it
            z = torch.stack([a + (b - a) * t for t in torch.linspace(0, 1, steps)])
        row_labels = None if labels is None else labels[:1].repeat(steps)
        return sampler.generate(z, row_labels), steps
    batches = sampler.batches(n, args["batch_size"], seed, labels)
    samples = torch.cat([fake for fake, _ in batches])
    per_class = math.ceil(n / len(labels.unique())) if labels is not None else 0
    return samples, per_class if 0 < per_class <= 16 else 8  # one row per class when it fits


def generate_images(args: dict[str, Any]) -> tuple[torch.Tensor, int]:
    """(samples, images per row) of a generator checkpoint (GAN, DCGAN, cGAN, 2-D)."""
    generator, config = load_network(args["ckpt"], "generator")
    if torch.cuda.is_available():
        generator = generator.cuda()
    sampler = Sampler.from_config(generator, config)
    sampler.truncation = args.get("truncation")
    try:
        return generate(sampler, args)
    except ValueError as error:
        raise UserError(str(error)) from None


def write_outputs(samples: torch.Tensor, per_row: int, folder: Path, grid: bool) -> None:
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


TEXT_NETS = ("text_encoder", "conditioning", "stage1", "conditioning2", "stage2")
TEXT_ONLY = ("text", "stage", "embeddings")


def split_captions(raw: str) -> list[str]:
    captions = [part.strip() for part in raw.split("|")]
    if not any(captions) or not all(captions):
        raise UserError(f'text={raw!r} has an empty caption; write e.g. text="a handwritten three"')
    return captions


def caption_input(
    extras: dict[str, Any], captions: list[str], embeddings: str | None, given: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(token ids or sentence vectors, lengths) of ``captions`` as the checkpoint's encoder reads
    them; ``given``: the captions came from ``text=`` (not the stored grid captions)."""
    vectors = extras.get("grid_vectors")
    if extras.get("vocabulary"):  # a word encoder
        if embeddings is not None:
            raise UserError(
                "embeddings= is for models trained on pre-computed sentence vectors "
                "(data.embeddings_file); this one reads words, drop embeddings="
            )
        vocabulary = extras["vocabulary"]
        tokens, lengths, unknown = Vocabulary(vocabulary).encode(captions, 64)
        if unknown:
            words = sorted({w for c in captions for w in tokenize(c) if w not in vocabulary})
            print(f"warning: not in the model's vocabulary, read as <unk>: {', '.join(words)}")
        return tokens, lengths
    if vectors is None:
        raise UserError("the checkpoint has neither a vocabulary nor sentence vectors to sample")
    if embeddings is not None:
        table = SentenceEmbeddings.load(embeddings)
        if table.dim != vectors.shape[1]:
            raise UserError(
                f"{embeddings} holds {table.dim}-d vectors but this model reads "
                f"{vectors.shape[1]}-d ones; give the file it was trained with (or one from "
                "the same encoder)"
            )
    elif given:
        raise UserError(
            "this model reads pre-computed sentence vectors: give the file that holds the "
            "captions' vectors, embeddings=FILE (or drop text= to draw the grid captions)"
        )
    else:
        table = SentenceEmbeddings(extras["grid_captions"], vectors, "the checkpoint")
    return table.lookup(captions), torch.ones(len(captions), dtype=torch.long)


def generate_from_text(
    path: str, extras: dict[str, Any], args: dict[str, Any]
) -> tuple[torch.Tensor, int]:
    """(samples, images per row) of a StackGAN checkpoint (``extras``: its gan_lightning
    entry): ``n`` images per caption."""
    from gan_lightning.models.stackgan import draw

    for key in ("labels", "interpolate", "truncation"):
        if args.get(key) is not None:
            raise UserError(f"{key}= does not apply to a text-to-image checkpoint; use text=")
    trained = str(extras.get("stage"))
    stage = args.get("stage") or (1 if trained == "1" else 2)
    if stage not in (1, 2):
        raise UserError(f"stage must be 1 or 2, got {stage}")
    if stage == 2 and trained == "1":
        raise UserError(f"{path} trained stage I only; sample it with stage=1")
    raw = args.get("text")
    captions = split_captions(raw) if raw is not None else list(extras.get("grid_captions") or [])
    if not captions:
        raise UserError('give captions: text="a handwritten three" (several: separated by |)')
    nets, _ = load_networks(path, list(TEXT_NETS))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    nets = {name: net.to(device) for name, net in nets.items()}
    n = args["n"]
    every = [caption for caption in captions for _ in range(n)]
    tokens, lengths = caption_input(extras, every, args.get("embeddings"), raw is not None)
    rng = torch.Generator().manual_seed(args["seed"])
    images = []
    for start in range(0, len(every), args["batch_size"]):
        size = min(args["batch_size"], len(every) - start)
        z = torch.randn(size, nets["stage1"].latent_dim, generator=rng)
        noise = tuple(
            torch.randn(size, nets[name].condition_dim, generator=rng)
            for name in ("conditioning", "conditioning2")
        )
        part = slice(start, start + size)
        with torch.no_grad():
            low, high = draw(
                nets,
                tokens[part].to(device),
                lengths[part].to(device),
                z.to(device),
                stage,
                tuple(e.to(device) for e in noise),
            )
        images.append((low if stage == 1 else high).float().cpu())
    return torch.cat(images), n if n <= 16 else 8


def main(argv: Sequence[str]) -> Path:
    args = parse_arguments(argv)
    extras = load_checkpoint(args["ckpt"])[CHECKPOINT_KEY]  # a bad ckpt is the first error
    out = Path(args.get("out") or Path(args["ckpt"]).with_suffix("").as_posix() + "_samples")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty; choose another out=")
    if extras.get("variant") == "StackGAN":
        samples, per_row = generate_from_text(args["ckpt"], extras, args)
    else:
        given = [key for key in TEXT_ONLY if args.get(key) is not None]
        if given:
            raise UserError(
                f"{given[0]}= is for text-to-image checkpoints (model=stackgan); "
                f"{args['ckpt']} is a {extras.get('variant')} checkpoint"
            )
        samples, per_row = generate_images(args)
    with atomic_path(out) as partial:  # replaces an empty out folder, checked above
        write_outputs(samples, per_row, partial, args["grid"])
    print(f"{samples.shape[0]} samples: {out}")
    return out


if __name__ == "__main__":
    run_command(main)
