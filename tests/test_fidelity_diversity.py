"""Precision / recall (k = 3) and density / coverage (k = 5) on feature sets with known answers,
and their path through the feature metrics and the evaluation callback."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan_lightning.callbacks.evaluation import EvaluationCallback
from gan_lightning.data.digits import DigitsDataModule
from gan_lightning.errors import UserError
from gan_lightning.metrics import fidelity
from gan_lightning.metrics.base import EvaluationInputs
from gan_lightning.metrics.classifier import DigitClassifier, classifier_path, save_classifier
from gan_lightning.metrics.distances import ClassifierDistance, InceptionDistance
from gan_lightning.metrics.fidelity import fidelity_diversity, nearest_distances, nearest_to
from gan_lightning.metrics.selection import MetricSettings, applicable_metrics
from gan_lightning.sampling import Sampler
from tests.test_metrics import ReplayGenerator, signed

NAMES = ("precision", "recall", "density", "coverage")


def gaussian(n: int, dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_the_papers_neighbour_counts_are_the_defaults():
    assert (fidelity.PRECISION_K, fidelity.DENSITY_K) == (3, 5)


def test_hand_computed_example():
    # Reals X1 (0,0), X2 (1,0), X3 (0,2), X4 (4,0); fakes Y1 (1,-2), Y2 (3,0), Y3 (4,-2);
    # precision_k = 1 and density_k = 2 (3 fakes have no 3rd neighbour). Squared distances:
    #   reals:  X1X2 1, X1X3 4, X1X4 16, X2X3 5, X2X4 9, X3X4 20
    #     k=1 radii^2: X1 1, X2 1, X3 4, X4 9;   k=2 radii^2: X1 4, X2 5, X3 5, X4 16
    #   fakes:  Y1Y2 8, Y1Y3 9, Y2Y3 5   ->  k=1 radii^2: Y1 8, Y2 5, Y3 5
    #   fake-real:  Y1: X1 5, X2 4, X3 17, X4 13
    #               Y2: X1 9, X2 4, X3 13, X4 1
    #               Y3: X1 20, X2 13, X3 32, X4 4
    # precision: Y1 in no k=1 real ball (5>1, 4>1, 17>4, 13>9); Y2 in X4's (1<=9), Y3 in X4's
    #   (4<=9)                                                               -> 2/3
    # recall: X1 in Y1's ball (5<=8), X2 in Y1's (4<=8), X4 in Y2's (1<=5); X3 in none
    #   (17>8, 13>5, 32>5)                                                   -> 3/4
    # density (k=2 balls): Y1 in X2's (4<=5) and X4's (13<=16), Y2 in X2's (4<=5) and X4's
    #   (1<=16), Y3 in X4's (4<=16): 5 memberships / (k=2 * M=3)             -> 5/6
    # coverage: X2's and X4's balls hold a fake, X1's (5, 9, 20 > 4) and X3's do not -> 1/2
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [4.0, 0.0]])
    fake = torch.tensor([[1.0, -2.0], [3.0, 0.0], [4.0, -2.0]])
    scores = fidelity_diversity(real, fake, precision_k=1, density_k=2)
    assert scores == pytest.approx(
        {"precision": 2 / 3, "recall": 3 / 4, "density": 5 / 6, "coverage": 1 / 2}
    )
    squared = torch.tensor([[1.0, 4.0], [1.0, 5.0], [4.0, 5.0], [9.0, 16.0]])
    torch.testing.assert_close(nearest_distances(real, 2) ** 2, squared)
    # each fake's nearest real, from the fake-real squared distances above: 4, 1, 4
    torch.testing.assert_close(nearest_to(fake, real) ** 2, torch.tensor([4.0, 1.0, 4.0]))


def test_two_halves_of_one_real_sample_score_near_one():
    # 2-D Gaussian, 1000 against 1000. Over seeds 0..39: precision 0.968..0.992, recall
    # 0.962..0.989, coverage 0.941..0.985 (expected 1 - 2^-k = 0.969 for N = M, Naeem et al.),
    # density 0.961..1.034. (In 64-D, precision and recall with k=3 fall to about 0.6 for
    # identical distributions, the underestimate density and coverage were made to avoid;
    # these stay near 1 and 0.97.)
    sample = gaussian(2000, 2, seed=0)
    scores = fidelity_diversity(sample[:1000], sample[1000:])
    assert scores["precision"] >= 0.95
    assert scores["recall"] >= 0.95
    assert scores["coverage"] >= 0.93
    assert scores["density"] == pytest.approx(1, abs=0.1)


@pytest.mark.parametrize("spread", [0.0, 1e-3])
def test_a_collapsed_generator_is_precise_but_covers_nothing(spread):
    real = gaussian(1000, 8, seed=1)
    fake = real[7] + spread * gaussian(1000, 8, seed=2)  # one real point, or a tight cluster
    scores = fidelity_diversity(real, fake)
    assert scores["precision"] == 1
    assert scores["recall"] <= 0.01
    assert scores["coverage"] <= 0.02


def test_noise_far_from_the_real_features_scores_zero():
    real = gaussian(1000, 8, seed=3)
    fake = 10 + 2 * torch.rand(1000, 8, generator=torch.Generator().manual_seed(4))
    scores = fidelity_diversity(real, fake)
    assert scores == {"precision": 0, "recall": 0, "density": 0, "coverage": 0}


def test_blocks_of_rows_give_the_same_answer(monkeypatch):
    real, fake = gaussian(300, 4, seed=5), gaussian(200, 4, seed=6) + 0.5
    whole = fidelity_diversity(real, fake)
    monkeypatch.setattr(fidelity, "BLOCK_ELEMENTS", 7 * 300)  # 7 rows at a time, uneven tail
    assert fidelity_diversity(real, fake) == whole
    given = fidelity_diversity(real, fake, real_distances=nearest_distances(real, 5))
    assert given == whole
    monkeypatch.setattr(fidelity, "BLOCK_ELEMENTS", 10**9)
    nearest = nearest_to(fake, real)
    monkeypatch.setattr(fidelity, "BLOCK_ELEMENTS", 7 * 300)
    torch.testing.assert_close(nearest_to(fake, real), nearest)


def test_too_few_samples_for_the_neighbour_count():
    with pytest.raises(ValueError, match=r"\(k=3\) needs more than 3 samples, got 3"):
        fidelity_diversity(gaussian(10, 2, 0), gaussian(3, 2, 1))


# the evaluation path: real digits, an untrained classifier's features (no training needed)


@pytest.fixture(scope="module")
def digits():
    dm = DigitsDataModule(loader={"batch_size": 64})
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def features_file(digits, tmp_path_factory):
    torch.manual_seed(0)
    path = classifier_path(tmp_path_factory.mktemp("features"), digits)
    save_classifier(DigitClassifier(digits.channels, 10).eval(), path, {})
    return path


def inputs_for(generator, dm, n=400):
    return EvaluationInputs(Sampler(generator, latent_dim=4), dm, num_samples=n, batch_size=200)


def test_classifier_features_give_the_four_numbers_and_keep_the_real_radii(digits, features_file):
    labels = digits.train_set.labels
    half = torch.arange(len(labels) // 2, len(labels))
    real = ReplayGenerator(signed(digits, half), labels[half])
    collapsed = ReplayGenerator(signed(digits, torch.zeros(400, dtype=torch.long)), labels[:1])
    metric = ClassifierDistance(str(features_file), kid_subset_size=100)
    scores = {}
    for name, generator in (("real", real), ("collapsed", collapsed)):
        inputs = inputs_for(generator, digits)
        metric.check(inputs)
        scores[name] = metric.compute(inputs)
        assert {"fcd", "kcd", *NAMES} <= set(scores[name])
    assert len(metric._real_neighbours) == 1  # one data module: its radii computed once
    assert scores["real"]["precision"] > 0.5 and scores["real"]["coverage"] > 0.5
    assert scores["collapsed"]["recall"] < 0.05 and scores["collapsed"]["coverage"] < 0.05


class FakeInception(nn.Module):
    """Stands in for the Inception weights: (features, logits) of uint8 images."""

    def forward(self, images):
        flat = images.float().flatten(1) / 255
        return flat[:, :32], flat[:, :10]


def test_inception_features_name_their_numbers_apart(digits):
    labels = digits.train_set.labels
    metric = InceptionDistance(weights="unused.pth", kid_subset_size=100)
    metric.network = FakeInception()  # ``load`` keeps a network it has
    generator = ReplayGenerator(signed(digits, torch.arange(len(labels))), labels)
    scores = metric.compute(inputs_for(generator, digits))
    assert {f"{name}_inception" for name in NAMES} <= set(scores)
    assert not set(NAMES) & set(scores)


def test_the_callback_logs_eval_precision_recall_density_coverage(digits, features_file):
    labels = digits.train_set.labels
    logged = {}
    module = SimpleNamespace(
        generator=ReplayGenerator(signed(digits, torch.arange(400)), labels),
        latent_dim=4,
        latent_distribution="normal",
        log_dict=lambda values, **_: logged.update(values),
    )
    trainer = SimpleNamespace(fast_dev_run=False, current_epoch=0, datamodule=digits)
    metric = ClassifierDistance(str(features_file), kid_subset_size=100)
    callback = EvaluationCallback([metric], num_samples=400, batch_size=200)
    callback.on_train_epoch_end(trainer, module)
    assert {f"eval/{name}" for name in NAMES} <= set(logged)


def test_missing_features_are_one_skip_line_each(digits, tmp_path):
    settings = MetricSettings(feature_dir=str(tmp_path), train_classifier=False)
    metrics, skipped = applicable_metrics(digits, settings)
    assert metrics == []
    classifier = [line for line in skipped if line.startswith("classifier metrics")]
    assert len(classifier) == 1 and "precision, recall, density, coverage" in classifier[0]
    assert "metrics.train_classifier=true" in classifier[0]
    inception = [line for line in skipped if "inception_weights is not set" in line]
    assert len(inception) == 1 and "precision_inception" in inception[0]


def test_a_missing_classifier_is_trained_once_on_first_use(digits, tmp_path, caplog):
    settings = MetricSettings(feature_dir=str(tmp_path), kid_subset_size=100)
    metrics, _ = applicable_metrics(digits, settings)
    assert [type(m).__name__ for m in metrics] == ["ClassifierDistance", "ClassCoverage"]
    path = classifier_path(tmp_path, digits)
    with caplog.at_level(logging.INFO):
        for metric in metrics:  # both need it: the second finds the first one's file
            metric.prepare(digits)
    assert path.is_file()
    assert sum("training one on digits" in r.message for r in caplog.records) == 1
    labels = digits.train_set.labels
    real = signed(digits, torch.arange(400))
    fcd = {
        name: metrics[0].compute(inputs_for(ReplayGenerator(images, labels), digits))["fcd"]
        for name, images in (("real", real), ("noise", torch.rand_like(real) * 2 - 1))
    }
    assert fcd["real"] < 0.2 * fcd["noise"]  # a trained classifier tells digits from noise


def test_a_classifier_file_named_but_missing_fails_before_the_first_evaluation(digits, tmp_path):
    metric = ClassifierDistance(str(tmp_path / "nope.pt"))
    with pytest.raises(UserError, match="no feature classifier at"):
        metric.prepare(digits)
    assert not (tmp_path / "nope.pt").exists()  # named files are never trained on the fly


def test_the_face_pixel_statistics_flag_copies_and_collapse():
    from experiments.toolkit.celeba_pixel_stats import pooled, statistics

    real = pooled(torch.rand(40, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1, 4)
    copies = statistics(real, real.clone())
    assert copies["nearest_real"] < 0.01 and copies["copies"] == 1
    assert copies["spread"] == pytest.approx(1)
    collapsed = statistics(real, real[:1].repeat(40, 1))
    assert collapsed["spread"] == 0 and collapsed["recall"] < 0.1
    fresh = statistics(real[:20], real[20:])  # two halves of one distribution
    assert 0.7 < fresh["nearest_real"] < 1.5 and 0.8 < fresh["spread"] < 1.2
    assert fresh["copies"] < 0.1


def test_the_face_pixel_statistics_score_against_the_faces_data_limit_held_out(tmp_path):
    from omegaconf import OmegaConf

    from experiments.toolkit.celeba_pixel_stats import real_faces
    from gan_lightning.data.loading import subset_indices
    from tests.conftest import write_faces

    write_faces(tmp_path / "celeba" / "img_align_celeba", 30, size=(40, 48))
    data = OmegaConf.create(
        {
            "_target_": "gan_lightning.data.celeba.CelebADataModule",
            "data_dir": str(tmp_path),
            "image_size": 8,
            "crop_size": 40,
            "loader": {"batch_size": 3, "num_workers": 0},
            "limit": 6,
            "limit_seed": 4,
        }
    )
    whole = real_faces(OmegaConf.merge(data, {"limit": None}), 1000)
    trained = subset_indices(30, 6, 4)
    left_out = [i for i in range(30) if i not in set(trained.tolist())]
    assert torch.equal(real_faces(data, 1000), whole[trained])
    assert torch.equal(real_faces(data, 1000, held_out=True), whole[left_out])
    with pytest.raises(UserError, match="--held-out needs runs trained with data.limit"):
        real_faces(OmegaConf.merge(data, {"limit": None}), 1000, held_out=True)
    with pytest.raises(
        UserError,
        match="leaves 18 of 30 faces out of training, fewer than 20 .* smaller data.limit",
    ):
        real_faces(OmegaConf.merge(data, {"limit": 12}), 1000, held_out=True)


def test_d_memorisation_tells_a_memorising_d_from_one_that_generalises():
    from experiments.toolkit.d_memorisation import discriminator_outputs, memorisation

    trained = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    memorised = memorisation(trained, torch.tensor([-9.0, -8.0, 0.0]), logits=True)
    assert memorised["unseen_below_training_median"] == 1
    assert memorised["training_mean"] == 3 and memorised["unseen_mean"] == pytest.approx(-17 / 3)
    assert memorised["training_mean_sigmoid"] == pytest.approx(float(torch.sigmoid(trained).mean()))
    general = memorisation(trained, torch.tensor([1.0, 2.5, 3.5, 5.0]), logits=False)
    assert general["unseen_below_training_median"] == 0.5 and "unseen_mean_sigmoid" not in general

    torch.manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(12, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)]
    discriminator = nn.Sequential(*layers)  # a batch of 1 through BatchNorm needs eval mode
    images = torch.randn(7, 3, 2, 2)
    outputs = discriminator_outputs(discriminator, images, batch=3)  # batches of 3, 3, 1
    assert not discriminator.training and outputs.shape == (7,)
    assert torch.allclose(outputs, discriminator(images).flatten())


def test_d_memorisation_refuses_runs_without_unseen_faces_or_with_labels(tmp_path):
    from omegaconf import OmegaConf

    from experiments.toolkit.d_memorisation import check_scorable

    limited = OmegaConf.create({"data": {"limit": 128}, "model": {"latent_dim": 8}})
    check_scorable(tmp_path, limited)  # an unconditional run on a subset: scorable
    with pytest.raises(UserError, match="trained without data.limit: no face was held out"):
        check_scorable(tmp_path, OmegaConf.merge(limited, {"data": {"limit": None}}))
    with pytest.raises(UserError, match="is a conditional model"):
        check_scorable(tmp_path, OmegaConf.merge(limited, {"model": {"num_classes": 10}}))
