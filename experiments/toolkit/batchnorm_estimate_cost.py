"""What one re-estimation of the average's BatchNorm statistics costs: the 32 recorded batches
(``model.training.ema.batchnorm_batches``' default) through the limited-data experiment's G
(DCGAN 32x32, width 32, latent 100, batch 64), in training mode, without gradients. It runs
before each use of the average (a grid, an evaluation, a checkpoint), not per step. Run it on
an idle machine: ``python experiments/toolkit/batchnorm_estimate_cost.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench import build  # noqa: E402

from gan_lightning.ema import EMAOptions, GeneratorAverages  # noqa: E402

OVERRIDES = [
    "model=dcgan", "data=mnist", "data.image_size=32", "model.latent_dim=100",
    "model.generator.base_width=32", "model.discriminator.base_width=32",
]  # fmt: skip
BATCH = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    model, _ = build(OVERRIDES, BATCH)
    generator = model.generator.train()
    averages = GeneratorAverages({"generator": generator}, EMAOptions(decay=0.999))
    with torch.no_grad():
        for _ in range(averages.options.batchnorm_batches):
            generator(model.sample_latent(BATCH))  # recorded by the hook, as in training
    seconds = []
    for step in range(args.repeats):
        averages.update({"generator": generator}, step)  # the weights moved: due again
        started = time.perf_counter()
        averages.estimate_batchnorm()
        seconds.append(time.perf_counter() - started)
    print(
        f"re-estimating over {averages.options.batchnorm_batches} batches of {BATCH}: median "
        f"{statistics.median(seconds) * 1000:.0f} ms ({min(seconds) * 1000:.0f}-"
        f"{max(seconds) * 1000:.0f}) over {args.repeats} repeats, "
        f"{torch.get_num_threads()} threads"
    )


if __name__ == "__main__":
    main()
