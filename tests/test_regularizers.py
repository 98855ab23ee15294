"""D's penalties against hand computations: WGAN-GP, R1, lazy R1, and the fp16 scale."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from gan_lightning.regularizers import (
    PENALTY_SETTINGS,
    DiscriminatorPenalties,
    gradient_penalty,
    input_gradients,
    r1_penalty,
)
from gan_lightning.training.options import TrainingOptions


def linear_critic(weight: torch.Tensor):
    """D(x) = <w, x>: its gradient is w at every x, so ||grad|| = ||w|| on any interpolate."""
    return lambda x: (x.flatten(1) * weight.flatten()).sum(dim=1)


def quadratic_critic(c: float):
    """D(x) = c/2 ||x||^2: its gradient at x is c x."""
    return lambda x: 0.5 * c * x.flatten(1).pow(2).sum(dim=1)


@pytest.mark.parametrize("norm", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("one_sided", [False, True])
def test_gradient_penalty_of_a_linear_critic_is_the_squared_distance_of_its_norm_from_one(
    norm, one_sided
):
    torch.manual_seed(0)
    weight = torch.randn(1, 4, 4)
    weight = weight / weight.norm() * norm
    real, fake = torch.randn(5, 1, 4, 4), torch.randn(5, 1, 4, 4)
    penalty = gradient_penalty(linear_critic(weight), real, fake, one_sided)
    expected = max(norm - 1, 0) ** 2 if one_sided else (norm - 1) ** 2
    assert penalty.item() == pytest.approx(expected, abs=1e-6)


def test_gradient_penalty_is_taken_on_interpolates_of_real_and_fake():
    torch.manual_seed(0)
    real, fake = torch.full((3, 2), 2.0), torch.zeros(3, 2)
    seen = []

    def critic(x):
        seen.append(x.detach().clone())
        return 0.5 * x.pow(2).sum(dim=1)  # gradient x: norm = mix * ||real|| per sample

    torch.manual_seed(7)
    penalty = gradient_penalty(critic, real, fake)
    torch.manual_seed(7)
    mix = torch.rand(3, 1)
    assert torch.allclose(seen[0], mix * real)
    norms = (mix * real).norm(dim=1)
    assert penalty.item() == pytest.approx(((norms - 1) ** 2).mean().item(), rel=1e-6)


def test_gradient_penalty_trains_the_critic():
    """The penalty's gradient reaches D's weights (create_graph): for D(x) = <w, x> it is
    2 (||w|| - 1) w / ||w||."""
    weight = torch.tensor([3.0, 4.0], requires_grad=True)  # norm 5
    penalty = gradient_penalty(lambda x: x @ weight, torch.randn(4, 2), torch.randn(4, 2))
    penalty.backward()
    assert torch.allclose(weight.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5)


def test_gradient_penalty_refuses_real_and_fake_of_different_shapes():
    with pytest.raises(ValueError, match="one shape"):
        gradient_penalty(quadratic_critic(1.0), torch.zeros(2, 3), torch.zeros(3, 3))


def test_r1_is_the_mean_squared_gradient_norm_on_real_images():
    real = torch.randn(6, 1, 3, 3).requires_grad_(True)
    c = 0.7
    penalty = r1_penalty(quadratic_critic(c)(real), real)
    expected = (c * real.detach()).flatten(1).pow(2).sum(dim=1).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-6)


def test_a_scaled_gradient_is_unscaled_before_the_norm():
    x = torch.randn(4, 3).requires_grad_(True)
    logits = quadratic_critic(2.0)(x)
    plain = input_gradients(logits, x)
    scaled = input_gradients(logits, x, scale=torch.tensor(1024.0))
    assert torch.allclose(plain, scaled)
    assert torch.allclose(plain, 2.0 * x.detach())


def test_under_fp16_autocast_the_scaled_penalty_matches_fp32():
    torch.manual_seed(0)
    critic_net = nn.Sequential(nn.Linear(8, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    real = torch.randn(8, 8)
    fp32 = r1_penalty(critic_net(real.requires_grad_(True)), real)
    real16 = real.detach().clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.float16):
        logits = critic_net(real16)
        fp16 = r1_penalty(logits, real16, scale=torch.tensor(2.0**8))
    assert fp16.dtype == torch.float32
    assert fp16.item() == pytest.approx(fp32.item(), rel=2e-2)


def penalties_after(module: DiscriminatorPenalties, updates: int) -> list[float | None]:
    """The collected R1 term at each of ``updates`` D updates (None: not due)."""
    values = []
    for _ in range(updates):
        real = torch.ones(2, 3).requires_grad_(True)
        if module.r1_due:
            module.add(quadratic_critic(1.0), real, real, quadratic_critic(1.0)(real))
        total = module.collect()
        values.append(None if total is None else total.item())
        module.count_update()
    return values


def test_lazy_r1_is_due_every_k_updates_and_scaled_by_k():
    # ||grad||^2 = ||x||^2 = 3 for x = ones(3): R1 = gamma/2 * 3 = 3 at gamma 2
    assert penalties_after(DiscriminatorPenalties(r1_gamma=2.0), 3) == [3.0, 3.0, 3.0]
    lazy = penalties_after(DiscriminatorPenalties(r1_gamma=2.0, r1_every=4), 9)
    assert lazy == [12.0, None, None, None, 12.0, None, None, None, 12.0]


def test_the_r1_rampup_raises_the_weight_linearly_from_zero():
    # gamma 2, R1 = gamma/2 * 3 at full weight; ramp over 4 updates: weights 0, 1/4, 2/4, 3/4, 1
    ramped = penalties_after(DiscriminatorPenalties(r1_gamma=2.0, r1_rampup=4), 6)
    assert ramped == [None, 0.75, 1.5, 2.25, 3.0, 3.0]
    # lazy: due every 2nd update, scaled by 2; update 0 has weight 0, so nothing is computed
    lazy = penalties_after(DiscriminatorPenalties(r1_gamma=2.0, r1_every=2, r1_rampup=4), 7)
    assert lazy == [None, None, 3.0, None, 6.0, None, 6.0]


def test_the_rampup_resumes_where_it_stopped():
    module = DiscriminatorPenalties(r1_gamma=1.0, r1_every=2, r1_rampup=10)
    penalties_after(module, 5)
    restored = DiscriminatorPenalties(r1_gamma=1.0, r1_every=2, r1_rampup=10)
    restored.load_state_dict(module.state_dict())
    assert restored.r1_weight == pytest.approx(0.5)
    assert penalties_after(restored, 8) == penalties_after(module, 8)


def test_the_lazy_counter_is_state_and_is_restored_from_a_state_dict():
    module = DiscriminatorPenalties(r1_gamma=1.0, r1_every=3)
    penalties_after(module, 4)
    restored = DiscriminatorPenalties(r1_gamma=1.0, r1_every=3)
    restored.load_state_dict(module.state_dict())
    assert int(restored.d_updates) == 4
    assert penalties_after(restored, 3) == penalties_after(module, 3)


def test_both_penalties_add_up_with_their_weights():
    weight = torch.tensor([0.0, 2.0])  # ||w|| = 2: GP = 1; R1 = ||w||^2 = 4
    module = DiscriminatorPenalties(gp_weight=10.0, r1_gamma=0.5)
    critic = lambda x: x @ weight  # noqa: E731
    real = torch.randn(3, 2).requires_grad_(True)
    module.add(critic, real, torch.randn(3, 2), critic(real))
    assert module.collect().item() == pytest.approx(10.0 * 1.0 + 0.25 * 4.0)
    assert module.collect() is None  # taken once


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("gp_weight", -1.0, "must be >= 0"),
        ("r1_gamma", -0.1, "must be >= 0"),
        ("r1_every", 0, "r1_every must be >= 1"),
        ("r1_rampup", -1, "r1_rampup must be >= 0"),
    ],
)
def test_bad_settings_are_refused_by_the_options(key, value, message):
    with pytest.raises(ValueError, match=message):
        TrainingOptions(optimizer=torch.optim.Adam, **{key: value})


def test_the_penalties_built_from_the_options_carry_every_setting():
    settings = {"gp_weight": 5.0, "gp_one_sided": True, "r1_gamma": 0.3, "r1_every": 16}
    options = TrainingOptions(optimizer=torch.optim.Adam, r1_rampup=500, **settings)
    penalties = DiscriminatorPenalties.from_options(options)
    assert {name: getattr(penalties, name) for name in PENALTY_SETTINGS} == {
        **settings,
        "r1_rampup": 500,
    }


def test_the_settings_list_is_the_constructors_arguments():
    # from_options reads this list: an argument missing from it would silently keep its default
    assert list(inspect.signature(DiscriminatorPenalties).parameters) == list(PENALTY_SETTINGS)
