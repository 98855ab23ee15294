"""Does the Fréchet classifier distance separate real data from noise and collapse?

    python experiments/evaluation/sanity.py --data-dir ../shared/data --image-size 32 \
        --classifier data/feature_nets/mnist_32px_1ch.pt

Reference: the first half of the MNIST training split. "Generators" replay: the disjoint second
half (a perfect generator), uniform noise, one digit image repeated (total collapse), and the
second half restricted to three classes (partial collapse). Prints fcd, kcd and class coverage.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch import nn

from gan_lightning.data.mnist import MNISTDataModule
from gan_lightning.metrics.base import EvaluationInputs
from gan_lightning.metrics.coverage import ClassCoverage
from gan_lightning.metrics.distances import ClassifierDistance
from gan_lightning.sampling import Sampler


class Replay(nn.Module):
    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.images, self.cursor = images, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        index = (torch.arange(z.shape[0]) + self.cursor) % len(self.images)
        self.cursor += z.shape[0]
        return self.images[index]


class Reference:
    """The first half of the split, looking like a data module to the metrics."""

    def __init__(self, dm: MNISTDataModule, images: torch.Tensor) -> None:
        self.image_size, self.channels, self.num_classes = dm.image_size, dm.channels, 10
        self.images = images

    def train_dataloader(self):
        return [(chunk, None) for chunk in self.images.split(500)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--classifier", required=True)
    args = parser.parse_args()
    dm = MNISTDataModule(
        data_dir=args.data_dir, image_size=args.image_size, loader={"batch_size": 500}
    )
    dm.setup("fit")
    images = dm.train_set.images.float() / 127.5 - 1
    labels = dm.train_set.labels
    half = len(images) // 2
    first, second = images[:half], images[half:]
    few = second[(labels[half:] == 1) | (labels[half:] == 4) | (labels[half:] == 7)]
    generators = {
        "second half of the real split": second,
        "uniform noise": torch.rand_like(second) * 2 - 1,
        "one image repeated": first[:1].repeat(len(second), 1, 1, 1),
        "real digits 1, 4, 7 only": few,
    }
    reference = Reference(dm, first)
    rows = {}
    for name, pool in generators.items():
        inputs = EvaluationInputs(Sampler(Replay(pool), latent_dim=1), reference, half, 500)
        result = ClassifierDistance(args.classifier).compute(inputs)
        result.update(ClassCoverage(args.classifier).compute(inputs))
        rows[name] = {k: round(v, 4) for k, v in result.items()}
        print(name, rows[name], flush=True)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
