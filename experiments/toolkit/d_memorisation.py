"""Has D memorised its training faces? Its outputs on the faces ``data.limit`` trained on
against the faces it left out.

    python experiments/toolkit/d_memorisation.py RUN_DIR [RUN_DIR ...] [--data-dir DIR]
        [--out results.json]

A D that generalises scores unseen real faces about as high as its training faces; one that
has memorised them calls the unseen ones fake, the overfitting that DiffAugment and ADA are
built against (Karras et al. 2020, Fig. 1). Each run's ``checkpoints/last.ckpt`` (a run
trained with ``data.limit``; the data read as in ``celeba_pixel_stats.py``) gives, for both sets
of real faces, D's mean raw output and, where the loss reads D's output as a logit, the mean
sigmoid; and ``unseen_below_training_median``: the share of unseen faces that D scores below
its median training face (0.5 when D cannot tell them apart, 1 when it has memorised them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from gan_lightning.checkpoints import load_checkpoint, networks_from
from gan_lightning.commands import run_command
from gan_lightning.errors import UserError
from gan_lightning.losses import NonSaturatingLoss

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository
from experiments.toolkit.celeba_pixel_stats import (  # noqa: E402
    data_config,
    limit_split,
    run_checkpoint,
    stacked,
    write_results,
)


def discriminator_outputs(discriminator: nn.Module, images: Tensor, batch: int = 100) -> Tensor:
    """D's raw output per image, in eval mode (BatchNorm on its running statistics)."""
    discriminator.eval()
    with torch.no_grad():
        return torch.cat(
            [discriminator(images[i : i + batch]).flatten() for i in range(0, len(images), batch)]
        )


def memorisation(trained: Tensor, unseen: Tensor, logits: bool) -> dict[str, float]:
    result = {
        "training_mean": float(trained.mean()),
        "unseen_mean": float(unseen.mean()),
        "unseen_below_training_median": float((unseen < trained.median()).double().mean()),
    }
    if logits:
        result["training_mean_sigmoid"] = float(torch.sigmoid(trained).mean())
        result["unseen_mean_sigmoid"] = float(torch.sigmoid(unseen).mean())
    return result


def check_scorable(run: Path, config: DictConfig) -> None:
    """UserError unless ``run`` trained an unconditional D on a ``data.limit`` subset."""
    if config.data.get("limit") is None:
        raise UserError(f"{run} trained without data.limit: no face was held out, none to compare")
    if config.model.get("num_classes"):
        raise UserError(f"{run} is a conditional model: its D needs labels; not scored")


def main(argv: Sequence[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data-dir", help="where the runs' face folder is now")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    if args.out is not None and args.out.exists():
        raise UserError(f"{args.out} exists: give another --out (results are not overwritten)")
    results: dict[str, Any] = {}
    faces: dict[str, tuple[Tensor, ...]] = {}  # data config -> training, unseen faces
    for run in args.runs:
        checkpoint = run_checkpoint(run)
        networks, config = networks_from(
            load_checkpoint(checkpoint), ["discriminator"], False, str(checkpoint)
        )
        check_scorable(run, config)
        data = data_config(config, args.data_dir)
        key = OmegaConf.to_yaml(data)
        if key not in faces:
            faces[key] = tuple(stacked(part, len(part)) for part in limit_split(data))
        trained, unseen = faces[key]
        discriminator = networks["discriminator"]
        logits = issubclass(get_class(config.model.loss._target_), NonSaturatingLoss)  # + minimax
        results[run.name] = memorisation(
            discriminator_outputs(discriminator, trained),
            discriminator_outputs(discriminator, unseen),
            logits,
        )
        print(run.name, " ".join(f"{k} {v:.3f}" for k, v in results[run.name].items()))
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    run_command(main)
