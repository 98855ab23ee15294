"""A small digit classifier: the offline feature network of the Fréchet classifier distance.

Inception features mean little on 28x28 grey digits and need a download; TF-GAN's MNIST
evaluation uses a classifier trained on the real data instead. ``train_classifier`` fits one on
the real training split and the file is cached, keyed by data set, size and channels.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.atomic import atomic_path
from gan_lightning.errors import UserError
from gan_lightning.metrics.base import data_name

FILE_FORMAT = "gan-lightning-classifier-1"
log = logging.getLogger(__name__)


class DigitClassifier(nn.Module):
    """3 conv layers -> 4x4 average pool -> 128 features -> logits; any input size >= 8 px."""

    def __init__(self, channels: int = 1, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.channels = channels
        self.num_classes = num_classes
        self.num_features = 128
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),
            nn.BatchNorm2d(4 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),  # keeps coarse layout: stroke positions tell 6 from 9
            nn.Flatten(),
            nn.Linear(4 * width * 16, self.num_features),
            nn.ReLU(),
        )
        self.head = nn.Linear(self.num_features, num_classes)

    def features(self, images: Tensor) -> Tensor:
        """Penultimate activations of [-1, 1] images."""
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


class ClassifierFeatures(nn.Module):
    """The classifier's features as torchmetrics' custom FID/KID feature network."""

    def __init__(self, classifier: DigitClassifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier.features(images)


def classifier_path(feature_dir: str | Path, datamodule: Any) -> Path:
    """Where the classifier for this data set, size and channel count is cached."""
    name = f"{data_name(datamodule)}_{datamodule.image_size}px_{datamodule.channels}ch.pt"
    return Path(feature_dir) / name


def train_classifier(
    datamodule: Any, epochs: int = 3, lr: float = 1e-3, seed: int = 0, holdout: float = 0.1
) -> tuple[DigitClassifier, float]:
    """Fit on the training split minus a held-out tenth; returns (classifier, held-out accuracy).
    The caller's random numbers are left as they were: a training run that trains the
    classifier on first use draws what it would have drawn with the classifier cached."""
    with torch.random.fork_rng(devices=[]):
        return _train_classifier(datamodule, epochs, lr, seed, holdout)


def _train_classifier(
    datamodule: Any, epochs: int, lr: float, seed: int, holdout: float
) -> tuple[DigitClassifier, float]:
    if not datamodule.num_classes:
        raise UserError(
            f"{type(datamodule).__name__} has no class labels; the feature classifier needs a "
            "labelled digit set (data=digits, mnist or svhn)"
        )
    datamodule.setup("fit")
    whole = getattr(datamodule, "whole_sets", {}).get("images", datamodule.train_set)
    images, labels = whole.images, whole.labels  # all of it, also under data.limit
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    cut = max(1, int(len(order) * holdout))
    held, train = order[:cut], order[cut:]
    torch.random.default_generator.manual_seed(seed)  # the CPU's alone: CUDA's stay the run's
    model = DigitClassifier(datamodule.channels, datamodule.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batch = 64
    for _ in range(epochs):
        model.train()
        shuffled = train[torch.randperm(len(train), generator=generator)]
        for start in range(0, len(shuffled), batch):
            index = shuffled[start : start + batch]
            if len(index) < 2:
                continue
            loss = F.cross_entropy(model(_signed(images[index])), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval(), accuracy(model, _signed(images[held]), labels[held])


def _signed(images: Tensor) -> Tensor:
    return images.float() / 127.5 - 1


@torch.no_grad()
def accuracy(model: DigitClassifier, images: Tensor, labels: Tensor) -> float:
    model.eval()
    predictions = torch.cat([model(chunk).argmax(1) for chunk in images.split(500)])
    return float((predictions == labels).float().mean())


def save_classifier(model: DigitClassifier, path: Path, metadata: dict[str, Any]) -> None:
    """Written atomically: a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FILE_FORMAT,
        "channels": model.channels,
        "num_classes": model.num_classes,
        "state_dict": model.state_dict(),
        "metadata": metadata,
    }
    with atomic_path(path) as partial:
        torch.save(payload, partial)


def ensure_classifier(datamodule: Any, path: Path) -> Path:
    """The classifier at ``path``, trained and cached first when there is none, so the metrics
    that need it work from a fresh clone (seconds for the 8x8 digits, minutes for MNIST on a
    CPU). Logged once, with the held-out accuracy."""
    if path.is_file():
        return path
    log.info("no feature classifier at %s: training one on %s, once", path, data_name(datamodule))
    held_out = train_and_save_classifier(datamodule, path)
    log.info("feature classifier cached at %s (held-out accuracy %.4f)", path, held_out)
    return path


def train_and_save_classifier(
    datamodule: Any, path: Path, epochs: int = 3, seed: int = 0, data: str | None = None
) -> float:
    """``train_classifier``, then the file at ``path``; returns the held-out accuracy. ``data``
    names the set in the file's metadata (default: the data module's class)."""
    model, held_out = train_classifier(datamodule, epochs=epochs, seed=seed)
    name = data or type(datamodule).__name__
    save_classifier(model, path, {"data": name, "held_out_accuracy": held_out})
    return held_out


def load_classifier(path: Path, datamodule: Any | None = None) -> DigitClassifier:
    if not path.is_file():
        command = "python -m gan_lightning.evaluate train_features data=<the run's data>"
        raise UserError(f"no feature classifier at {path}; train it with: {command}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise UserError(f"{path} is not a gan-lightning feature classifier")
    if datamodule is not None and payload["channels"] != datamodule.channels:
        raise UserError(
            f"{path} was trained on {payload['channels']}-channel images, the data have "
            f"{datamodule.channels}"
        )
    model = DigitClassifier(payload["channels"], payload["num_classes"])
    model.load_state_dict(payload["state_dict"])
    return model.eval()
