"""Class coverage of digit generators: which classes a real-data classifier sees in the samples."""

from __future__ import annotations

from typing import Any

import torch

from gan_lightning.errors import UserError
from gan_lightning.metrics.base import EvaluationInputs, SampleMetric
from gan_lightning.metrics.distances import ClassifierDistance


class ClassCoverage(SampleMetric):
    """``classes_covered``, ``kl_to_uniform`` (of the predicted-label histogram) and, for a
    conditional generator, ``label_accuracy``: the share classified as the requested label.

    A class counts as covered when it gets at least ``min_share`` of its fair share 1/K of the
    samples (0.1: at least 1% of samples for ten digits), so a few misclassified blobs do not
    count as coverage. The classifier is the one of the classifier distance (``classifier``
    null: the cached file for this data set under ``feature_dir``).
    """

    name = "class coverage"

    def __init__(
        self,
        classifier: str | None = None,
        feature_dir: str = "data/feature_nets",
        min_share: float = 0.1,
    ) -> None:
        self.classifiers = ClassifierDistance(classifier, feature_dir)
        self.min_share = min_share

    def prepare(self, datamodule: Any) -> None:
        self.classifiers.prepare(datamodule)

    def check(self, inputs: EvaluationInputs) -> None:
        super().check(inputs)
        if not getattr(inputs.datamodule, "num_classes", None):
            raise UserError(
                f"class coverage needs a labelled digit set, not {type(inputs.datamodule).__name__}"
            )

    @torch.no_grad()
    def compute(self, inputs: EvaluationInputs) -> dict[str, float]:
        classifier = self.classifiers.classifier(inputs)
        num_classes = classifier.num_classes
        counts = torch.zeros(num_classes, dtype=torch.float64)
        hits = total = 0
        for fake, labels in inputs.fake_batches():
            predicted = classifier(fake.to(inputs.device)).argmax(1).cpu()
            counts += torch.bincount(predicted, minlength=num_classes).double()
            total += predicted.numel()
            if labels is not None:
                hits += int((predicted == labels).sum())
        share = counts / total
        nonzero = share[share > 0]
        results = {
            "classes_covered": float((share >= self.min_share / num_classes).sum()),
            "kl_to_uniform": float((nonzero * (nonzero * num_classes).log()).sum()),
            "max_class_share": float(share.max()),
        }
        if inputs.sampler.conditional:
            results["label_accuracy"] = hits / total
        return results
