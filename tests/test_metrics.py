"""Classifier distances and class coverage behave as a metric must: small for real data, large
for noise and for a collapsed generator; and the evaluation callback logs them."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from gan_lightning.data.digits import DigitsDataModule
from gan_lightning.errors import UserError
from gan_lightning.metrics.base import EvaluationInputs
from gan_lightning.metrics.classifier import (
    classifier_path,
    load_classifier,
    save_classifier,
    train_classifier,
)
from gan_lightning.metrics.coverage import ClassCoverage
from gan_lightning.metrics.distances import ClassifierDistance, InceptionDistance
from gan_lightning.sampling import Sampler
from tests.conftest import run_cli


class ReplayGenerator(nn.Module):
    """Plays back given images (of the requested class when conditional): a "perfect" G."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, conditional: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))  # gives the Sampler a device
        self.images, self.labels = images, labels
        self.conditional = conditional
        self.cursor = 0

    def forward(self, z, condition=None):
        n = z.shape[0]
        if condition is None:
            index = (torch.arange(n) + self.cursor) % len(self.images)
        else:
            wanted = condition.argmax(1)
            index = torch.stack(
                [
                    torch.nonzero(self.labels == c)[(self.cursor + i) % 50, 0]
                    for i, c in enumerate(wanted)
                ]
            )
        self.cursor += n
        return self.images[index]


@pytest.fixture(scope="module")
def digits():
    dm = DigitsDataModule(loader={"batch_size": 64})
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def classifier_file(digits, tmp_path_factory):
    model, accuracy = train_classifier(digits, epochs=4)
    assert accuracy > 0.9, accuracy
    path = classifier_path(tmp_path_factory.mktemp("features"), digits)
    save_classifier(model, path, {"held_out_accuracy": accuracy})
    return path


def test_training_the_classifier_leaves_the_caller_s_random_numbers_alone(digits):
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    train_classifier(digits, epochs=1)  # reseeds for its own initialisation
    assert torch.equal(torch.rand(4), expected)


def signed(dm, index):
    return dm.train_set.images[index].float() / 127.5 - 1


def score(metric, generator, dm, n=800, num_classes=0):
    sampler = Sampler(generator, latent_dim=4, num_classes=num_classes)
    inputs = EvaluationInputs(sampler, dm, num_samples=n, batch_size=200)
    metric.check(inputs)
    return metric.compute(inputs)


def test_classifier_file_round_trip(classifier_file, digits):
    model = load_classifier(classifier_file, digits)
    assert model.num_classes == 10
    with pytest.raises(UserError, match="train_features"):
        load_classifier(classifier_file.with_name("missing.pt"))


def test_fcd_is_small_for_real_data_and_large_for_noise_and_collapse(classifier_file, digits):
    labels = digits.train_set.labels
    second_half = torch.arange(len(labels) // 2, len(labels))
    real = ReplayGenerator(signed(digits, second_half), labels[second_half])
    noise = ReplayGenerator(torch.rand(800, 1, 8, 8) * 2 - 1, torch.zeros(800))
    collapsed = ReplayGenerator(signed(digits, torch.zeros(800, dtype=torch.long)), labels[:1])
    results = {}
    for name, generator in (("real", real), ("noise", noise), ("collapsed", collapsed)):
        metric = ClassifierDistance(str(classifier_file), kid_subset_size=500)
        results[name] = score(metric, generator, digits)
    assert results["real"]["fcd"] * 10 < results["collapsed"]["fcd"]
    assert results["real"]["fcd"] * 10 < results["noise"]["fcd"]
    assert results["real"]["kcd"] < results["collapsed"]["kcd"]


def test_class_coverage_sees_collapse_and_checks_labels(classifier_file, digits):
    labels = digits.train_set.labels
    collapsed = ReplayGenerator(signed(digits, torch.zeros(500, dtype=torch.long)), labels[:1])
    stats = score(ClassCoverage(str(classifier_file)), collapsed, digits, n=500)
    assert stats["classes_covered"] == 1
    assert stats["kl_to_uniform"] == pytest.approx(math.log(10), abs=1e-6)
    everything = torch.arange(len(labels))
    conditional = ReplayGenerator(signed(digits, everything), labels, conditional=True)
    stats = score(ClassCoverage(str(classifier_file)), conditional, digits, n=500, num_classes=10)
    assert stats["classes_covered"] == 10
    assert stats["label_accuracy"] > 0.9
    assert stats["kl_to_uniform"] < 0.05


def test_too_few_samples_for_kid_is_one_clear_error(classifier_file, digits):
    generator = ReplayGenerator(signed(digits, torch.arange(10)), digits.train_set.labels[:10])
    with pytest.raises(UserError, match="needs at least 1000 samples, got 100"):
        score(ClassifierDistance(str(classifier_file)), generator, digits, n=100)


def test_missing_inception_weights_names_the_file_to_get(digits):
    metric = InceptionDistance(weights=None)
    with pytest.raises(UserError, match="weights-inception-2015-12-05-6726825d.pth"):
        metric.load(None)


def test_evaluation_callback_logs_mode_metrics_and_optimized_metric(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "model=gan2d",
        "data=ring",
        "data.num_samples=1000",
        "data.loader.batch_size=100",
        "trainer.max_epochs=2",
        "callbacks.evaluation.num_samples=500",
        "optimized_metric=eval/reverse_kl",
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "status.json").read_text())["metrics"]
    assert 0 <= metrics["eval/modes"] <= 8
    assert 0 <= metrics["eval/high_quality"] <= 1
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "eval/modes" in header and "eval/reverse_kl" in header
    assert (run_dir / "samples" / "epoch_001.png").exists()


@pytest.mark.parametrize("whole_sets", [True, False])
def test_kernel_distance_is_torchmetrics_kid_with_the_same_subsets(monkeypatch, whole_sets):
    """Both paths (whole-set kernels, and one subset at a time for large sets) give
    torchmetrics' KID for the same seed: the same subsets, the same estimator."""
    from torchmetrics.image.kid import KernelInceptionDistance

    from gan_lightning.metrics import kernel_distance

    class Identity(torch.nn.Module):
        num_features = 16

        def forward(self, features):
            return features

    torch.manual_seed(0)
    real, fake = torch.randn(300, 16), torch.randn(250, 16) * 1.2 + 0.1
    reference = KernelInceptionDistance(feature=Identity(), subsets=20, subset_size=100)
    reference.update(real, real=True)
    reference.update(fake, real=False)
    torch.manual_seed(7)
    expected = [float(v) for v in reference.compute()]
    if not whole_sets:
        monkeypatch.setattr(kernel_distance, "WHOLE_SET_ENTRIES", 0)
    torch.manual_seed(7)
    mean, std = kernel_distance.kernel_distance(real, fake, 20, 100)
    torch.manual_seed(7)  # real features cached in float64 beside float32 fakes, as evaluate has
    assert kernel_distance.kernel_distance(real.double(), fake, 20, 100) == (
        pytest.approx(mean, rel=1e-5),
        pytest.approx(std, rel=1e-4),
    )
    assert expected[0] > 1e-3  # the sets differ, so a zero estimate would not pass
    assert (mean, std) == (
        pytest.approx(expected[0], rel=1e-4),
        pytest.approx(expected[1], rel=1e-3),
    )
    with pytest.raises(ValueError, match="subset_size=300 is more than the 250 samples"):
        kernel_distance.kernel_distance(real, fake, 2, 300)
