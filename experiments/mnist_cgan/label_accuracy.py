"""Does a conditional GAN draw the digit it is asked for?

Trains a small CNN on the real MNIST training split (held out: the test split), then asks the
generator of a cGAN checkpoint for ``--per-class`` samples of each digit and reports how often
the CNN assigns a sample to the requested label.

    python experiments/mnist_cgan/label_accuracy.py CKPT --data-dir ../shared/data
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from gan_lightning.checkpoints import load_network
from gan_lightning.data.mnist import MNISTDataModule


def digit_classifier() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip


def split(data_dir: str, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    dm = MNISTDataModule(data_dir=data_dir, split=name, loader={"batch_size": 1})
    dm.setup()
    return dm.train_set.images.float() / 127.5 - 1, dm.train_set.labels


def train_classifier(data_dir: str, epochs: int) -> nn.Module:
    torch.manual_seed(0)
    images, labels = split(data_dir, "train")
    model = digit_classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        model.train()
        for index in torch.randperm(len(images)).split(64):
            loss = F.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    test_images, test_labels = split(data_dir, "test")
    model.eval()
    with torch.no_grad():
        accuracy = (model(test_images).argmax(1) == test_labels).float().mean().item()
    print(f"classifier accuracy on {len(test_images)} real test digits: {accuracy:.1%}")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--classifier-epochs", type=int, default=3)
    parser.add_argument(
        "--raw", action="store_true", help="score the raw G, not the run's average of G"
    )
    args = parser.parse_args()

    classifier = train_classifier(args.data_dir, args.classifier_epochs)
    generator, config = load_network(args.checkpoint, "generator", ema=not args.raw)
    latent_dim, num_classes = int(config.model.latent_dim), int(config.model.num_classes)
    torch.manual_seed(1)
    labels = torch.arange(num_classes).repeat_interleave(args.per_class)
    with torch.no_grad():
        images = generator(torch.randn(len(labels), latent_dim), F.one_hot(labels, num_classes))
        if images.shape[-1] != 28:
            images = F.interpolate(images, size=(28, 28), mode="bilinear", antialias=True)
        predicted = classifier(images).argmax(1)
    per_class = [(predicted[labels == c] == c).float().mean().item() for c in range(num_classes)]
    overall = (predicted == labels).float().mean().item()
    print(f"label accuracy of generated digits: {overall:.1%} ({len(labels)} samples)")
    print("per class: " + ", ".join(f"{c}: {a:.0%}" for c, a in enumerate(per_class)))


if __name__ == "__main__":
    main()
