"""Numbers for face runs on a machine without Inception weights: statistics in pixel space.

    python experiments/toolkit/celeba_pixel_stats.py RUN_DIR [RUN_DIR ...] [--n 1000]
        [--sizes 8,16,32] [--reals 1000] [--raw] [--held-out] [--data-dir DIR]
        [--out results.json]

Each run's ``checkpoints/last.ckpt`` draws ``--n`` faces (seed 0; the average of G when the run
keeps one, ``--raw`` adds its raw G as a second row). The real faces are the runs' own training
set, read with their data config (crop and resize included; ``--data-dir`` where the folder has
moved), at most ``--reals`` of them (the subset ``data.limit`` would keep); ``--held-out``
compares with the faces that the runs' ``data.limit`` left out of training instead. The runs
must share that config. A first row scores one random half of the real faces against the
other: what a G that drew real faces would score (at half the set size). Real and fake are
average-pooled to each of ``--sizes`` pixels a side and compared as vectors:

- precision, recall (k=3), density, coverage (k=5): ``gan_lightning.metrics.fidelity``, the
  evaluation's functions, on these pixel vectors instead of a trained network's features;
- ``nearest_real``: a fake's mean L2 distance to its nearest real face, against the reals' own
  nearest-other-real distance; ``copies``: the share of fakes nearer to a real face than all
  but 1% of the real faces are to their nearest other one (both well under 1 / above 0.01
  would mean G reproduces training faces);
- ``spread``: the fakes' mean pairwise L2 distance over the reals' (under 1: less varied).

Pixel distances see colour, pose and layout, not whether a face looks right: these numbers say
whether G covers the faces and copies them, not how good its faces are. No FID here. The output
also summarises each run's logged D loss per epoch (``csv/metrics.csv``).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics as stats
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torch.utils.data import Dataset, Subset

from gan_lightning.atomic import atomic_path
from gan_lightning.checkpoints import load_checkpoint, networks_from
from gan_lightning.commands import run_command
from gan_lightning.data.loading import subset_indices
from gan_lightning.errors import UserError
from gan_lightning.evaluate import build_data
from gan_lightning.generation import real_images
from gan_lightning.metrics.fidelity import (
    DENSITY_K,
    fidelity_diversity,
    nearest_distances,
    nearest_to,
    row_blocks,
)
from gan_lightning.sampling import Sampler


def pooled(images: Tensor, size: int) -> Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, C * size * size)."""
    return F.adaptive_avg_pool2d(images.float(), size).flatten(1)


def limit_split(data: DictConfig) -> tuple[Dataset, Dataset]:
    """The faces the runs' ``data.limit`` trained on, and those it left out of training."""
    if data.get("limit") is None:
        raise UserError("--held-out needs runs trained with data.limit (none held out here)")
    datamodule = build_data(data)
    whole = datamodule.whole_sets["images"]
    trained = set(subset_indices(len(whole), datamodule.limit, datamodule.limit_seed).tolist())
    held_out = Subset(whole, [i for i in range(len(whole)) if i not in trained])
    if len(held_out) < 4 * DENSITY_K:
        raise UserError(
            f"data.limit={data.limit} leaves {len(held_out)} of {len(whole)} faces out of "
            f"training, fewer than {4 * DENSITY_K} to score against: use runs trained with a "
            f"smaller data.limit"
        )
    return datamodule.train_set, held_out


def stacked(faces: Dataset, limit: int) -> Tensor:
    """At most ``limit`` of ``faces`` (the subset ``data.limit=limit`` would keep), stacked."""
    chosen = subset_indices(len(faces), min(limit, len(faces)))
    return torch.stack([real_images(faces[int(i)]) for i in chosen])


def real_faces(data: DictConfig, limit: int, held_out: bool = False) -> Tensor:
    """The training faces, or the ``limit`` of them that ``data.limit=limit`` would keep. With
    ``held_out``, the faces the runs' ``data.limit`` left out of training instead: whether G
    draws faces it never saw, not just the ones it trained on."""
    faces = limit_split(data)[1] if held_out else build_data(data).train_set
    return stacked(faces, limit)


def fake_faces(generator: torch.nn.Module, config: DictConfig, n: int) -> Tensor:
    sampler = Sampler.from_config(generator, config)
    with torch.no_grad():
        return torch.cat([fake for fake, _ in sampler.batches(n, 250, 0, None)])


def mean_pairwise(features: Tensor) -> float:
    blocks = row_blocks(features, len(features))
    total = sum(float(torch.cdist(block, features).sum()) for _, block in blocks)
    n = features.shape[0]
    return total / (n * (n - 1))


def real_reference(real: Tensor) -> tuple[Tensor, float]:
    """What ``statistics`` needs of the real set alone: the same for every G scored on it."""
    return nearest_distances(real, DENSITY_K), mean_pairwise(real)


def statistics(
    real: Tensor, fake: Tensor, reference: tuple[Tensor, float] | None = None
) -> dict[str, float]:
    real_distances, real_spread = reference or real_reference(real)
    result = fidelity_diversity(real, fake, real_distances=real_distances)
    real_nearest = real_distances[:, 0]
    fake_nearest = nearest_to(fake, real)
    result["nearest_real"] = float(fake_nearest.mean() / real_nearest.mean())
    result["copies"] = float((fake_nearest < real_nearest.quantile(0.01)).double().mean())
    result["spread"] = mean_pairwise(fake) / real_spread
    return result


def training_summary(run: Path) -> dict[str, float] | None:
    """D's epoch loss over training, from the run's CSV log (None without one)."""
    path = run / "csv" / "metrics.csv"
    if not path.exists():
        return None
    with open(path, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("train/d_loss_epoch")]
    if not rows:
        return None
    loss = [float(r["train/d_loss_epoch"]) for r in rows]
    summary = {
        "epochs": len(loss),
        "d_loss_min": min(loss),
        "d_loss_min_epoch": int(rows[loss.index(min(loss))]["epoch"]),
        "d_loss_median": stats.median(loss),
        "epochs_d_loss_below_0.1": sum(value < 0.1 for value in loss),
    }
    if rows[0].get("train/d_real_epoch") and rows[0].get("train/d_fake_epoch"):
        gaps = [float(r["train/d_real_epoch"]) - float(r["train/d_fake_epoch"]) for r in rows]
        summary["d_real_minus_d_fake_median"] = stats.median(gaps)
    return summary


def run_checkpoint(run: Path) -> Path:
    checkpoint = run / "checkpoints" / "last.ckpt"
    if not checkpoint.exists():
        raise UserError(f"{checkpoint} does not exist: give the folder of a finished run")
    return checkpoint


def write_results(path: Path | None, results: dict[str, Any]) -> None:
    """``results`` as JSON at ``path`` (nothing when None), written whole or not at all."""
    if path is not None:
        with atomic_path(path) as partial:
            partial.write_text(json.dumps(results, indent=2) + "\n")


def generators(run: Path, raw: bool) -> list[tuple[str, torch.nn.Module, DictConfig]]:
    checkpoint = run_checkpoint(run)
    stored = load_checkpoint(checkpoint)
    networks, config = networks_from(stored, ["generator"], True, str(checkpoint))
    generator = networks["generator"]
    if "latent_dim" not in config.model or config.model.get("num_classes"):
        raise UserError(f"{checkpoint} is not an unconditional generator of latents: not scored")
    found = [(run.name, generator, config)]
    if raw and config.model.training.ema.decay is not None:
        raw_networks = networks_from(stored, ["generator"], False, str(checkpoint))[0]
        found.append((f"{run.name} (raw G)", raw_networks["generator"], config))
    return found


def data_config(config: DictConfig, data_dir: str | None) -> DictConfig:
    data = OmegaConf.create(OmegaConf.to_container(config.data, resolve=True))
    if data_dir is not None:
        data.data_dir = data_dir
    return data


def sizes(raw: str) -> list[int]:
    try:
        values = [int(part) for part in raw.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"give positive pixel sizes such as 8,16,32, not {raw!r}")
    return values


def main(argv: Sequence[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--n", type=int, default=1000, help="faces drawn per G")
    parser.add_argument("--sizes", type=sizes, default=[16], help="pooled sizes, e.g. 8,16,32")
    parser.add_argument("--reals", type=int, default=1000, help="at most this many real faces")
    parser.add_argument("--raw", action="store_true", help="also the raw G of averaged runs")
    parser.add_argument("--data-dir", help="where the runs' face folder is now")
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="compare with the faces data.limit left out of training, not the training faces",
    )
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    if args.n < 2 * DENSITY_K or args.reals < 4 * DENSITY_K:
        parser.error(f"--n needs at least {2 * DENSITY_K} faces and --reals {4 * DENSITY_K}")
    if args.out is not None and args.out.exists():
        raise UserError(f"{args.out} exists: give another --out (results are not overwritten)")
    rows = [row for run in args.runs for row in generators(run, args.raw)]
    data = {OmegaConf.to_yaml(data_config(c, args.data_dir)) for _, _, c in rows}
    if len(data) > 1:
        raise UserError("the runs were trained on different data: score them in separate calls")
    reals = real_faces(data_config(rows[0][2], args.data_dir), args.reals, args.held_out)
    halves = torch.randperm(reals.shape[0], generator=torch.Generator().manual_seed(0)).chunk(2)
    fakes = {name: fake_faces(g, config, args.n) for name, g, config in rows}
    results: dict[str, Any] = {}
    for size in args.sizes:
        real = pooled(reals, size)
        table = {
            "real faces: one half against the other": statistics(real[halves[0]], real[halves[1]])
        }
        reference = real_reference(real)
        table |= {
            name: statistics(real, pooled(fake, size), reference) for name, fake in fakes.items()
        }
        for name, values in table.items():
            print(f"{size}x{size}", name, " ".join(f"{k} {v:.3f}" for k, v in values.items()))
        results[f"{size}x{size}"] = table
    results["training"] = {run.name: training_summary(run) for run in args.runs}
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    run_command(main)
