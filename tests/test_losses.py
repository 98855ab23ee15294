import math

import pytest
import torch
from omegaconf import OmegaConf

from gan_lightning.commands import compose
from gan_lightning.config_check import check_config
from gan_lightning.errors import UserError
from gan_lightning.losses import (
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WassersteinLoss,
)
from gan_lightning.train import build
from tests.conftest import REPO_ROOT, run_cli

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


# --- hinge and Wasserstein, and the model/loss config group ---------------------------------

# Small logits whose losses are written out by hand below.
HAND_REAL = torch.tensor([2.0, -0.5])
HAND_FAKE = torch.tensor([0.3, -1.5])

LOSS_CLASSES = {
    "nonsaturating": NonSaturatingLoss,
    "minimax": MinimaxLoss,
    "least_squares": LeastSquaresLoss,
    "hinge": HingeLoss,
    "wasserstein": WassersteinLoss,
}
# Each model file's loss before the group existed: the class and its arguments.
MODEL_LOSSES = {
    "gan": "nonsaturating",
    "dcgan": "nonsaturating",
    "cgan": "nonsaturating",
    "gan2d": "nonsaturating",
    "cyclegan": "least_squares",
    "pix2pix": "nonsaturating",
    "stackgan": "nonsaturating",
    "template": "nonsaturating",
}


def test_least_squares_on_hand_numbers():
    loss = LeastSquaresLoss()
    # D: mean((2 - 1)^2, (-0.5 - 1)^2) + mean(0.3^2, (-1.5)^2) = (1 + 2.25) / 2 + (0.09 + 2.25) / 2
    #    = 1.625 + 1.17 = 2.795
    assert loss.discriminator(HAND_REAL, HAND_FAKE).item() == pytest.approx(2.795)
    # G: mean((0.3 - 1)^2, (-1.5 - 1)^2) = (0.49 + 6.25) / 2 = 3.37
    assert loss.generator(HAND_FAKE).item() == pytest.approx(3.37)


def test_hinge_on_hand_numbers():
    loss = HingeLoss()
    # D real: mean(relu(1 - 2), relu(1 + 0.5)) = (0 + 1.5) / 2 = 0.75
    # D fake: mean(relu(1 + 0.3), relu(1 - 1.5)) = (1.3 + 0) / 2 = 0.65  -> D = 1.4
    assert loss.discriminator(HAND_REAL, HAND_FAKE).item() == pytest.approx(1.4)
    # G: -mean(0.3, -1.5) = -(-0.6) = 0.6
    assert loss.generator(HAND_FAKE).item() == pytest.approx(0.6)


def test_wasserstein_on_hand_numbers():
    loss = WassersteinLoss()
    # D: mean(0.3, -1.5) - mean(2, -0.5) = -0.6 - 0.75 = -1.35
    assert loss.discriminator(HAND_REAL, HAND_FAKE).item() == pytest.approx(-1.35)
    # G: -mean(0.3, -1.5) = 0.6
    assert loss.generator(HAND_FAKE).item() == pytest.approx(0.6)


def test_hinge_and_wasserstein_gradients_by_hand():
    real, fake = HAND_REAL.clone().requires_grad_(), HAND_FAKE.clone().requires_grad_()
    HingeLoss().discriminator(real, fake).backward()
    # only the unmet margins (real -0.5, fake 0.3) pass a gradient, of 1/2 (the mean of two)
    assert real.grad.tolist() == pytest.approx([0.0, -0.5])
    assert fake.grad.tolist() == pytest.approx([0.5, 0.0])
    real.grad, fake.grad = None, None
    WassersteinLoss().discriminator(real, fake).backward()
    assert real.grad.tolist() == pytest.approx([-0.5, -0.5])
    assert fake.grad.tolist() == pytest.approx([0.5, 0.5])
    for loss in (HingeLoss(), WassersteinLoss()):
        fake.grad = None
        loss.generator(fake).backward()
        assert fake.grad.tolist() == pytest.approx([-0.5, -0.5])


@pytest.mark.parametrize("name", LOSS_CLASSES)
def test_gradients_reach_the_logits(name):
    loss = LOSS_CLASSES[name]()
    real, fake = HAND_REAL.clone().requires_grad_(), HAND_FAKE.clone().requires_grad_()
    loss.discriminator(real, fake).backward()
    for grad in (real.grad, fake.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    fake.grad = None
    loss.generator(fake).backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0


@pytest.mark.parametrize("loss_class", [HingeLoss, WassersteinLoss])
def test_critic_scores_are_raw_values(loss_class):
    assert loss_class().score(HAND_REAL).tolist() == HAND_REAL.tolist()


@pytest.mark.parametrize("loss_class", [HingeLoss, WassersteinLoss])
@pytest.mark.parametrize("key", ["real_label_smoothing", "label_flip_prob"])
def test_losses_without_targets_take_label_options_only_at_zero(loss_class, key):
    assert vars(loss_class(**{key: 0.0}))[key] == 0.0  # a swapped `_target_` keeps these keys
    with pytest.raises(ValueError, match=f"has no real/fake targets .*: drop {key}"):
        loss_class(**{key: 0.1})


def loss_node(*overrides: str):
    return compose("train", list(overrides)).model.loss


def built(node):
    """The loss as train.py builds it, after the config check (one error line naming the key)."""
    check_config(OmegaConf.create({"model": {"loss": node}}))
    return build(node, "model.loss")


def test_the_group_has_one_file_per_loss_class():
    files = {path.stem for path in (REPO_ROOT / "conf" / "model" / "loss").glob("*.yaml")}
    assert files == set(LOSS_CLASSES)
    for name, loss_class in LOSS_CLASSES.items():
        loss = built(loss_node(f"model/loss={name}"))
        assert type(loss) is loss_class


@pytest.mark.parametrize("model", MODEL_LOSSES)
def test_every_model_takes_its_loss_from_the_group(model):
    # the default: today's class with today's arguments, in the model.loss package
    node = loss_node(f"model={model}")
    default = MODEL_LOSSES[model]
    assert OmegaConf.to_container(node) == OmegaConf.to_container(
        loss_node(f"model={model}", f"model/loss={default}")
    )
    assert node._target_ == f"gan_lightning.losses.{LOSS_CLASSES[default].__name__}"
    assert vars(built(node)) == {"real_label_smoothing": 0.0, "label_flip_prob": 0.0}
    # and another choice of the group
    assert loss_node(f"model={model}", "model/loss=hinge")._target_.endswith(".HingeLoss")


def test_the_group_is_chosen_under_an_experiment():
    node = loss_node("experiment=summer2winter_cyclegan_paper", "model/loss=wasserstein")
    assert node._target_ == "gan_lightning.losses.WassersteinLoss"
    assert loss_node("experiment=summer2winter_cyclegan_paper")._target_.endswith(
        ".LeastSquaresLoss"
    )


@pytest.mark.parametrize("name", LOSS_CLASSES)
def test_a_target_swap_keeps_the_other_keys_and_builds(name):
    # the documented `model.loss._target_=...` style on the default node (which lists both options)
    loss_class = LOSS_CLASSES[name]
    node = loss_node(f"model.loss._target_=gan_lightning.losses.{loss_class.__name__}")
    assert set(node) == {"_target_", "real_label_smoothing", "label_flip_prob"}
    assert type(built(node)) is loss_class


def test_label_options_on_a_loss_without_targets_fail_with_one_line():
    node = loss_node(
        "model.loss._target_=gan_lightning.losses.HingeLoss", "model.loss.label_flip_prob=0.1"
    )
    with pytest.raises(UserError) as error:
        built(node)
    assert str(error.value) == (
        "model.loss: HingeLoss has no real/fake targets to smooth or flip: "
        "drop label_flip_prob (or set it to 0)"
    )
    with pytest.raises(UserError, match=r"^model\.loss\.margin: .*HingeLoss takes no argument"):
        built(loss_node("model/loss=hinge", "+model.loss.margin=1"))


def test_fast_dev_run_with_the_hinge_loss(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("model/loss=hinge", "debug=fast_dev_run", run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert saved.model.loss == {"_target_": "gan_lightning.losses.HingeLoss"}
