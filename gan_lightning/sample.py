"""Draw samples from a checkpoint's generator (no pickled code is loaded).

    python -m gan_lightning.sample ckpt=PATH [n=64] [out=DIR] [labels=3,7] [grid=true]
        [truncation=0.7] [seed=0] [interpolate=STEPS seeds=A,B]

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
from gan_lightning.checkpoints import load_network
from gan_lightning.commands import parse_key_values, run_command
from gan_lightning.errors import UserError
from gan_lightning.plots import FAKE_COLOUR, scatter_image
from gan_lightning.sampling import Sampler, slerp

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


def main(argv: Sequence[str]) -> Path:
    args = parse_arguments(argv)
    generator, config = load_network(args["ckpt"], "generator")
    if torch.cuda.is_available():
        generator = generator.cuda()
    sampler = Sampler.from_config(generator, config)
    sampler.truncation = args.get("truncation")
    out = Path(args.get("out") or Path(args["ckpt"]).with_suffix("").as_posix() + "_samples")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty; choose another out=")
    try:
        samples, per_row = generate(sampler, args)
    except ValueError as error:
        raise UserError(str(error)) from None
    with atomic_path(out) as partial:  # replaces an empty out folder, checked above
        write_outputs(samples, per_row, partial, args["grid"])
    print(f"{samples.shape[0]} samples: {out}")
    return out


if __name__ == "__main__":
    run_command(main)
