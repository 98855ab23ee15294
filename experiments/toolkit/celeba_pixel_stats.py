"""Numbers for CelebA runs on a machine without Inception weights: statistics in pixel space.

    python experiments/toolkit/celeba_pixel_stats.py RUN_DIR [RUN_DIR ...] [--n 1000] [--size 16]
        [--raw] [--out results.json]

Each run's ``checkpoints/last.ckpt`` draws ``--n`` faces (seed 0; the average of G when the run
keeps one, ``--raw`` adds its raw G as a second row); the run's own data config gives the real
faces, with the run's crop and resize. A first row scores the second half of the real faces
against the first half: what a G that drew real faces would score (at half the set size).
Real and fake are average-pooled to ``--size`` pixels a side and compared as vectors:

- precision, recall (k=3), density, coverage (k=5): ``gan_lightning.metrics.fidelity``, the
  evaluation's functions, on these pixel vectors instead of a trained network's features;
- ``nearest_real``: a fake's mean L2 distance to its nearest real face, against the reals' own
  nearest-other-real distance (a ratio well under 1 would mean copies of training faces);
- ``spread``: the fakes' mean pairwise L2 distance over the reals' (under 1: less varied).

Pixel distances see colour, pose and layout, not whether a face looks right: these numbers say
whether G covers the faces and copies none, not how good its faces are. No FID here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import Tensor

from gan_lightning.checkpoints import load_network
from gan_lightning.metrics.fidelity import fidelity_diversity, nearest_distances
from gan_lightning.sampling import Sampler


def pooled(images: Tensor, size: int) -> Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, C * size * size)."""
    return F.adaptive_avg_pool2d(images.float(), size).flatten(1)


def real_faces(config) -> Tensor:
    datamodule = instantiate(config.data)
    datamodule.setup("fit")
    items = [datamodule.train_set[i] for i in range(len(datamodule.train_set))]
    return torch.stack([item[0] if isinstance(item, tuple) else item for item in items])


def fake_faces(checkpoint: Path, n: int, ema: bool) -> tuple[Tensor, object]:
    generator, config = load_network(checkpoint, "generator", ema)
    sampler = Sampler.from_config(generator, config)
    with torch.no_grad():
        fakes = torch.cat([fake for fake, _ in sampler.batches(n, 250, 0, None)])
    return fakes, config


def mean_pairwise(features: Tensor) -> float:
    distances = torch.cdist(features, features)
    n = features.shape[0]
    return float(distances.sum() / (n * (n - 1)))


def statistics(real: Tensor, fake: Tensor) -> dict[str, float]:
    result = fidelity_diversity(real, fake)
    real_nearest = nearest_distances(real, 1)[:, 0].mean()
    fake_nearest = torch.cdist(fake, real).min(1).values.mean()
    result["nearest_real"] = float(fake_nearest / real_nearest)
    result["spread"] = mean_pairwise(fake) / mean_pairwise(real)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--raw", action="store_true", help="also the raw G of averaged runs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows, reals = {}, None
    for run in args.runs:
        checkpoint = run / "checkpoints" / "last.ckpt"
        if not checkpoint.exists():
            raise SystemExit(f"error: {checkpoint} does not exist: give a finished run's folder")
        for ema in (True, False) if args.raw else (True,):
            fakes, config = fake_faces(checkpoint, args.n, ema)
            if not ema and config.model.training.ema.decay is None:
                continue  # no average: its raw G is the row above
            if reals is None:
                reals = pooled(real_faces(config), args.size)
                half = reals.shape[0] // 2
                reference = statistics(reals[:half], reals[half:])
                rows["real faces: second half against the first"] = reference
                print("reals", " ".join(f"{k} {v:.3f}" for k, v in reference.items()))
            stats = statistics(reals, pooled(fakes, args.size))
            name = run.name if ema else f"{run.name} (raw G)"
            rows[name] = stats
            print(name, " ".join(f"{k} {v:.3f}" for k, v in stats.items()), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
