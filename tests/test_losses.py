import math

import pytest
import torch

from gan_lightning.losses import LeastSquaresLoss, MinimaxLoss, NonSaturatingLoss

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 0.0, 1.0])


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def bce(p: float, target: float) -> float:
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_non_saturating_discriminator_matches_hand_computation():
    expected = mean(bce(sigmoid(x), 1) for x in REAL.tolist()) + mean(
        bce(sigmoid(x), 0) for x in FAKE.tolist()
    )
    got = NonSaturatingLoss().discriminator(REAL, FAKE)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_non_saturating_generator_is_minus_log_d():
    expected = mean(-math.log(sigmoid(x)) for x in FAKE.tolist())
    assert NonSaturatingLoss().generator(FAKE).item() == pytest.approx(expected, rel=1e-6)


def test_minimax_generator_is_log_one_minus_d():
    expected = mean(math.log(1 - sigmoid(x)) for x in FAKE.tolist())
    assert MinimaxLoss().generator(FAKE).item() == pytest.approx(expected, rel=1e-6)
    # same discriminator objective as the non-saturating game
    assert MinimaxLoss().discriminator(REAL, FAKE).item() == pytest.approx(
        NonSaturatingLoss().discriminator(REAL, FAKE).item()
    )


def test_least_squares_matches_hand_computation():
    loss = LeastSquaresLoss()
    expected_d = mean((x - 1) ** 2 for x in REAL.tolist()) + mean(x**2 for x in FAKE.tolist())
    expected_g = mean((x - 1) ** 2 for x in FAKE.tolist())
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(expected_d)
    assert loss.generator(FAKE).item() == pytest.approx(expected_g)


def test_one_sided_label_smoothing_changes_only_real_targets():
    smooth = NonSaturatingLoss(real_label_smoothing=0.1)
    expected = mean(bce(sigmoid(x), 0.9) for x in REAL.tolist()) + mean(
        bce(sigmoid(x), 0) for x in FAKE.tolist()
    )
    assert smooth.discriminator(REAL, FAKE).item() == pytest.approx(expected, rel=1e-6)
    # G's target is not smoothed
    assert smooth.generator(FAKE).item() == pytest.approx(
        NonSaturatingLoss().generator(FAKE).item()
    )


def test_label_flip_swaps_about_the_requested_fraction():
    torch.manual_seed(0)
    loss = LeastSquaresLoss(label_flip_prob=0.2)
    targets = loss._targets(torch.zeros(100_000), real=True)
    assert (targets == 0).float().mean().item() == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("kwargs", [{"real_label_smoothing": 1.0}, {"label_flip_prob": 0.5}])
def test_bad_options_are_rejected(kwargs):
    with pytest.raises(ValueError):
        NonSaturatingLoss(**kwargs)


def test_bce_scores_are_probabilities():
    assert NonSaturatingLoss().score(torch.tensor([0.0])).item() == 0.5
    assert LeastSquaresLoss().score(torch.tensor([0.3])).item() == pytest.approx(0.3)
