"""What each toolkit option costs per training step, through the framework's own loop.

Each option trains the same DCGAN (32x32, width 32, batch 64: the limited-data experiment's
networks) on in-memory batches; the framework loop of ``experiments/benchmarks/bench.py`` times
the batches after a warm-up. The options take turns (several rounds, the order rotating), and
each row reports the median time per batch (one D and one G update) and its ratio to the row
with every option off. Run it on an idle machine:
``python experiments/toolkit/option_costs.py [--quick] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench import build, make_loader, time_framework  # noqa: E402

BASE = [
    "model=dcgan", "data=mnist", "data.image_size=32", "model.latent_dim=100",
    "model.generator.base_width=32", "model.discriminator.base_width=32",
]  # fmt: skip
OPTIONS = {
    "off": [],
    "hinge loss": ["model/loss=hinge"],
    "spectral norm": ["model.discriminator.spectral_norm=true"],
    "gradient penalty": ["model.training.gp_weight=10"],
    "R1 every step": ["model.training.r1_gamma=1"],
    "R1 every 16 (lazy)": ["model.training.r1_gamma=1", "model.training.r1_every=16"],
    "EMA of G": ["model.training.ema.decay=0.999"],
    "DiffAugment (translation)": [
        "model/training/augment=diffaugment", "model.training.augment.policy=translation",
    ],
    "DiffAugment (colour, translation, cutout)": ["model/training/augment=diffaugment"],
    "ADA": ["model/training/augment=ada"],
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few batches: a check, no figures")
    parser.add_argument("--out", default=str(Path(__file__).with_name("option_costs.json")))
    args = parser.parse_args()
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warmup, steps, rounds = (2, 3, 1) if args.quick else (5, 30, 5)
    batch_size = 64
    times: dict[str, list[float]] = {name: [] for name in OPTIONS}
    names = list(OPTIONS)
    with tempfile.TemporaryDirectory() as log_dir:
        for round_index in range(rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                torch.manual_seed(0)
                model, progress_bar = build([*BASE, *OPTIONS[name]], batch_size)
                loader = make_loader((1, 32, 32), batch_size, warmup + steps)
                seconds, _ = time_framework(model, progress_bar, loader, warmup, steps, log_dir)
                times[name].append(seconds)
    base = statistics.median(times["off"])
    rows = {
        name: {
            "ms_per_batch": 1000 * statistics.median(values),
            "ratio_to_off": statistics.median(values) / base,
            "all_ms": [round(1000 * v, 2) for v in values],
        }
        for name, values in times.items()
    }
    result = {
        "what": "DCGAN 32x32 width 32, batch 64, one D + one G update per batch, median of rounds",
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "warmup_batches": warmup,
        "timed_batches": steps,
        "rounds": rounds,
        "rows": rows,
    }
    if not args.quick:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'option':45s} {'ms/batch':>9s} {'x off':>6s}")
    for name, row in rows.items():
        print(f"{name:45s} {row['ms_per_batch']:9.1f} {row['ratio_to_off']:6.2f}")


if __name__ == "__main__":
    main()
