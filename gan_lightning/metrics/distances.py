"""Fréchet and kernel distances (FID / KID, and their classifier-feature twins; FID via
torchmetrics, KID in ``kernel_distance``), and precision / recall / density / coverage on the
same features.

Features are computed once per batch by the subclass's network and handed to torchmetrics
through a pass-through module, so one forward pass serves every statistic, memory stays bounded
(FID keeps running sums; KID and the k-NN metrics keep N x F features) and the real statistics
(features and their k-NN radii) are computed once per data module and reused at every evaluation.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore

from gan_lightning.errors import UserError
from gan_lightning.metrics.base import (
    EvaluationInputs,
    SampleMetric,
    is_image_data,
    require_inputs,
)
from gan_lightning.metrics.classifier import (
    ClassifierFeatures,
    DigitClassifier,
    classifier_path,
    ensure_classifier,
    load_classifier,
)
from gan_lightning.metrics.fidelity import (
    DENSITY_K,
    NAMES,
    PRECISION_K,
    fidelity_diversity,
    nearest_distances,
)
from gan_lightning.metrics.kernel_distance import kernel_distance


class _Features(nn.Module):
    """Lets torchmetrics take precomputed features as its "images"."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


class FeatureDistance(SampleMetric):
    """Fréchet distance and KID between real and generated features of one feature network, and
    (``fidelity_suffix`` not None) precision, recall, density and coverage (``fidelity.py``) as
    ``precision<fidelity_suffix>``, ``recall<fidelity_suffix>``, ..."""

    fid_name = "fid"  # result keys: <fid_name>, <kid_name>, <kid_name>_std
    kid_name = "kid"
    scores_inception = False  # also compute the Inception score from the "logits" features
    fidelity_suffix: str | None = None  # None: no precision / recall / density / coverage

    fewer_samples_fix = (
        f"{SampleMetric.fewer_samples_fix} or lower metrics.kid_subset_size, the size of KID's "
        "subsets"
    )

    def __init__(self, kid_subset_size: int = 1000, kid_subsets: int = 100) -> None:
        self.kid_subset_size = kid_subset_size
        self.kid_subsets = kid_subsets
        self.min_samples = max(2, kid_subset_size, PRECISION_K + 1, DENSITY_K + 1)
        self._real: dict[Hashable, Tensor] = {}  # inputs.real_key -> real features
        self._real_neighbours: dict[Hashable, Tensor] = {}  # -> their k-NN distances
        self.network: nn.Module | None = None
        self.device = torch.device("cpu")

    # what a feature network provides
    def build_network(self, inputs: Any) -> nn.Module:
        """The feature network, read from its file (once: ``load`` keeps it)."""
        raise NotImplementedError

    def features(self, images: Tensor) -> dict[str, Tensor]:
        """``{"features": (N, F)}`` (+ ``"logits"`` for the Inception score) of [-1, 1] images."""
        raise NotImplementedError

    def load(self, inputs: Any) -> nn.Module:
        """The feature network, built on first use, on the device of the scored generator."""
        if self.network is None:
            self.network = self.build_network(inputs)
        self.device = inputs.device
        return self.network.to(self.device)

    def check(self, inputs: EvaluationInputs) -> None:
        super().check(inputs)
        if not is_image_data(inputs.datamodule):
            raise UserError(
                f"{self.name} compares images; {type(inputs.datamodule).__name__} holds points"
            )

    def _real_features(self, inputs: EvaluationInputs) -> Tensor:
        key = inputs.real_key
        if key not in self._real:
            parts = [self.features(images)["features"] for images in inputs.real_batches()]
            self._real[key] = torch.cat(parts)
        real = self._real[key]
        needed = inputs.kid_subset_size or self.min_samples
        if real.shape[0] < needed:
            raise UserError(
                f"{self.name}: the data set gives {real.shape[0]} real samples (this process's "
                f"share under DDP), fewer than the {needed} of a KID subset; lower "
                "metrics.kid_subset_size"
            )
        return real

    @torch.no_grad()
    def compute(self, inputs: EvaluationInputs) -> dict[str, float]:
        self.load(inputs)
        real = self._real_features(inputs)
        fid = FrechetInceptionDistance(feature=_Features(real.shape[1]))
        with warnings.catch_warnings():  # IS keeps N x F features: bounded by num_samples
            warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
            score = InceptionScore(feature=_Features(0)) if self.scores_inception else None
        for chunk in real.split(inputs.batch_size):
            fid.update(chunk, real=True)
        fakes = []  # for KID and the k-NN metrics
        for fake, _ in inputs.fake_batches():
            outputs = self.features(fake)
            fid.update(outputs["features"].cpu(), real=False)
            fakes.append(outputs["features"].cpu().float())
            if score is not None:
                score.update(outputs["logits"].cpu())
        fake_features = torch.cat(fakes)
        subset_size = inputs.kid_subset_size or self.kid_subset_size
        with torch.random.fork_rng(devices=[]):  # KID draws subsets: seeded, training RNG kept
            torch.manual_seed(inputs.seed)
            kid_mean, kid_std = kernel_distance(
                real.cpu(), fake_features, self.kid_subsets, subset_size
            )
            results = {
                self.fid_name: float(fid.compute()),
                self.kid_name: kid_mean,
                f"{self.kid_name}_std": kid_std,
            }
            if score is not None:
                results["inception_score"] = float(score.compute()[0])
        if self.fidelity_suffix is not None:
            results.update(self._fidelity(inputs, real, fake_features))
        return results

    def _fidelity(self, inputs: EvaluationInputs, real: Tensor, fake: Tensor) -> dict[str, float]:
        """Precision, recall, density, coverage; the real k-NN radii are kept like the features."""
        if real.shape[0] <= DENSITY_K:
            raise UserError(
                f"{self.name}: density and coverage need more than {DENSITY_K} real samples, "
                f"the data set gives {real.shape[0]}"
            )
        real = real.float()
        key = inputs.real_key
        if key not in self._real_neighbours:
            self._real_neighbours[key] = nearest_distances(real, DENSITY_K)
        scores = fidelity_diversity(real, fake, real_distances=self._real_neighbours[key])
        return {f"{name}{self.fidelity_suffix}": scores[name] for name in NAMES}


class ClassifierDistance(FeatureDistance):
    """Fréchet / kernel classifier distance (``fcd``, ``kcd``) on the digit classifier's features.

    ``classifier`` null: the cached file for this data set under ``feature_dir``.
    """

    name = "Fréchet classifier distance"
    fid_name = "fcd"
    kid_name = "kcd"
    fidelity_suffix = ""  # precision, recall, density, coverage

    def __init__(
        self,
        classifier: str | None = None,
        feature_dir: str = "data/feature_nets",
        kid_subset_size: int = 1000,
        kid_subsets: int = 100,
    ) -> None:
        super().__init__(kid_subset_size, kid_subsets)
        self.classifier_file = classifier
        self.feature_dir = feature_dir

    def path(self, datamodule: Any) -> Path:
        if self.classifier_file:
            return Path(self.classifier_file)
        return classifier_path(self.feature_dir, datamodule)

    def prepare(self, datamodule: Any) -> None:
        """A classifier named by ``classifier`` must exist; the cached one is trained on
        first use."""
        path = self.path(datamodule)
        if self.classifier_file:
            load_classifier(path, datamodule)  # one line now, not at the first evaluation
        else:
            ensure_classifier(datamodule, path)

    def build_network(self, inputs: Any) -> nn.Module:
        return ClassifierFeatures(load_classifier(self.path(inputs.datamodule), inputs.datamodule))

    def classifier(self, inputs: Any) -> DigitClassifier:
        """The digit classifier itself, loaded as ``load`` does (class coverage reads it)."""
        network = self.load(inputs)
        assert isinstance(network, ClassifierFeatures)
        return network.classifier

    def features(self, images: Tensor) -> dict[str, Tensor]:
        assert self.network is not None
        return {"features": self.network(images.to(self.device)).double().cpu()}


class InceptionDistance(FeatureDistance):
    """FID, KID and Inception Score with the standard (TF-ported) Inception-v3 of torch-fidelity.

    The weights file is never downloaded here: give its path.
    """

    name = "FID"
    scores_inception = True
    fidelity_suffix = "_inception"  # precision_inception, recall_inception, ...
    WEIGHTS_URL = (
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
        "weights-inception-2015-12-05-6726825d.pth"
    )

    def __init__(
        self, weights: str | None = None, kid_subset_size: int = 1000, kid_subsets: int = 100
    ) -> None:
        super().__init__(kid_subset_size, kid_subsets)
        self.weights = weights

    def build_network(self, inputs: Any) -> nn.Module:
        return load_inception(self.weights)

    def features(self, images: Tensor) -> dict[str, Tensor]:
        assert self.network is not None
        images = images.to(self.device)
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        uint8 = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        features, logits = self.network(uint8)
        return {"features": features.double().cpu(), "logits": logits.double().cpu()}


class TranslatedDistance(SampleMetric):
    """FID and KID of a translator's outputs against real images of its target domain, in
    Inception features; no Inception Score, which judges class diversity, not translation.

    Test sets are small (summer2winter: 309 and 238 images), so the KID subset size is capped at
    the images scored. A subclass names the inputs it scores and the target sets in them.
    """

    accepts: tuple[type, str] = (object, "")  # (its inputs' type, the models they come from)
    too_few = ""  # the error when fewer than 2 images can be scored

    def __init__(self, weights: str | None = None, kid_subset_size: int = 1000) -> None:
        self.distance = InceptionDistance(weights, kid_subset_size)
        self.distance.scores_inception = False
        self.distance.fidelity_suffix = None
        self.kid_subset_size = kid_subset_size

    def targets(self, inputs: Any) -> dict[str, Any]:
        """Result-key suffix -> what ``FeatureDistance.compute`` reads (fakes: translations)."""
        raise NotImplementedError

    def check(self, inputs: Any) -> None:
        require_inputs(self, inputs, *self.accepts)
        if inputs.num_samples < 2:
            raise UserError(self.too_few)

    def compute(self, inputs: Any) -> dict[str, float]:
        inputs.kid_subset_size = min(self.kid_subset_size, inputs.num_samples)
        results = {}
        for suffix, target in self.targets(inputs).items():
            scores = self.distance.compute(target)
            results[f"fid{suffix}"] = scores["fid"]
            results[f"kid{suffix}"] = scores["kid"]
            results[f"kid{suffix}_std"] = scores["kid_std"]
        return results


def load_inception(weights: str | None) -> nn.Module:
    if not weights or not Path(weights).is_file():
        where = f"no file at {weights}" if weights else "metrics.inception_weights is not set"
        raise UserError(
            f"FID/KID/IS need the Inception weights ({where}): download "
            f"{InceptionDistance.WEIGHTS_URL} and pass metrics.inception_weights=PATH"
        )
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
    except ImportError:  # pragma: no cover - torch-fidelity is a dependency
        raise UserError("FID needs torch-fidelity: pip install torch-fidelity") from None
    try:
        return NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=["2048", "logits_unbiased"],
            feature_extractor_weights_path=str(weights),
        )
    except Exception as error:
        raise UserError(
            f"{weights} is not the torch-fidelity Inception weights file ({type(error).__name__})"
        ) from None
