"""Which metrics apply to a generator and its data: used by the callback and ``evaluate``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gan_lightning.errors import UserError
from gan_lightning.metrics.base import SampleMetric, is_image_data
from gan_lightning.metrics.coverage import ClassCoverage
from gan_lightning.metrics.distances import ClassifierDistance, InceptionDistance
from gan_lightning.metrics.fidelity import NAMES
from gan_lightning.metrics.modes import ModeCoverage
from gan_lightning.metrics.paired import PairedDistance, PairedL1
from gan_lightning.metrics.translation import CycleReconstruction, TranslationDistance

CLASSIFIER_METRICS = ", ".join(("fcd", "kcd", *NAMES, "class coverage"))
INCEPTION_METRICS = ", ".join(("fid", "kid", "inception_score", *(f"{n}_inception" for n in NAMES)))


@dataclass
class MetricSettings:
    """The ``metrics`` node of the config."""

    classifier: str | None = None
    feature_dir: str = "data/feature_nets"
    inception_weights: str | None = None
    kid_subset_size: int = 1000
    train_classifier: bool = True  # train and cache the digit classifier on first use


def build_metric(name: str, settings: MetricSettings, data_kind: str = "images") -> SampleMetric:
    """One metric by its command-line name (``evaluate metric=...``)."""
    if data_kind == "paired":
        paired = {
            "l1": PairedL1,
            "fid": lambda: PairedDistance(settings.inception_weights, settings.kid_subset_size),
        }
        if name not in paired:
            raise UserError(f"metric={name!r} does not score paired translation; use all, l1, fid")
        return paired[name]()
    if data_kind == "unpaired":
        translation = {
            "cycle": CycleReconstruction,
            "fid": lambda: TranslationDistance(
                settings.inception_weights, settings.kid_subset_size
            ),
        }
        if name not in translation:
            raise UserError(f"metric={name!r} does not score translation; use all, cycle or fid")
        return translation[name]()
    builders = {
        "modes": ModeCoverage,
        "fcd": lambda: ClassifierDistance(
            settings.classifier, settings.feature_dir, settings.kid_subset_size
        ),
        "class_coverage": lambda: ClassCoverage(settings.classifier, settings.feature_dir),
        "fid": lambda: InceptionDistance(settings.inception_weights, settings.kid_subset_size),
    }
    if name not in builders:
        raise UserError(f"metric={name!r} is unknown; use all, {', '.join(builders)}")
    return builders[name]()


def applicable_metrics(
    datamodule: Any, settings: MetricSettings
) -> tuple[list[SampleMetric], list[str]]:
    """(metrics to run, one line per metric left out and why)."""
    if hasattr(datamodule, "centers"):
        return [ModeCoverage()], []
    if getattr(datamodule, "data_kind", "images") == "captioned":
        return [], [
            "every metric: none scores text-to-image models yet "
            "(experiments/text2image/run.py measures caption accuracy)"
        ]
    if getattr(datamodule, "data_kind", "images") == "unpaired":
        if not settings.inception_weights:
            skip = "fid_AtoB, kid_AtoB, ...: metrics.inception_weights is not set"
            return [CycleReconstruction()], [skip]
        weights, subset = settings.inception_weights, settings.kid_subset_size
        return [CycleReconstruction(), TranslationDistance(weights, subset)], []
    if getattr(datamodule, "data_kind", "images") == "paired":
        if not settings.inception_weights:
            return [PairedL1()], ["fid, kid: metrics.inception_weights is not set"]
        weights, subset = settings.inception_weights, settings.kid_subset_size
        return [PairedL1(), PairedDistance(weights, subset)], []
    if not is_image_data(datamodule):
        return [], [f"no metric knows {type(datamodule).__name__}"]
    metrics: list[SampleMetric] = []
    skipped: list[str] = []
    if getattr(datamodule, "num_classes", None):
        distance = ClassifierDistance(
            settings.classifier, settings.feature_dir, settings.kid_subset_size
        )
        path = distance.path(datamodule)
        if path.is_file() or (settings.train_classifier and not settings.classifier):
            metrics += [distance, ClassCoverage(settings.classifier, settings.feature_dir)]
        else:
            skipped.append(
                f"classifier metrics ({CLASSIFIER_METRICS}): no classifier at {path}; "
                "train it with python -m gan_lightning.evaluate train_features data=..., or set "
                "metrics.train_classifier=true to train it on first use"
            )
    else:
        skipped.append(f"classifier metrics ({CLASSIFIER_METRICS}): the data set has no labels")
    if settings.inception_weights:
        metrics.append(InceptionDistance(settings.inception_weights, settings.kid_subset_size))
    else:
        skipped.append(f"{INCEPTION_METRICS}: metrics.inception_weights is not set")
    return metrics, skipped
