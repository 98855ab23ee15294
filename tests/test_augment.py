"""Differentiable augmentation: op formulas by hand, paired alignment, gradients, ADA's p."""

from __future__ import annotations

import pytest
import torch

from gan_lightning import augment
from gan_lightning.augment import AdaptiveAugment, Augmentation, DiffAugment


def images(n: int = 4, c: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    """Values in [0.1, 1]: no natural zeros, so zeroed pixels are the augmentation's."""
    generator = torch.Generator().manual_seed(seed)
    return 0.1 + 0.9 * torch.rand(n, c, size, size, generator=generator)


def shifted_by_roll(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Reference translation of one CHW image: roll, then zero what wrapped around."""
    out = torch.roll(x, shifts=(dy, dx), dims=(1, 2)).clone()
    if dy > 0:
        out[:, :dy] = 0
    elif dy < 0:
        out[:, dy:] = 0
    if dx > 0:
        out[:, :, :dx] = 0
    elif dx < 0:
        out[:, :, dx:] = 0
    return out


ALL_AUGMENTS = [
    pytest.param(lambda: DiffAugment(), id="diffaugment"),
    pytest.param(
        lambda: AdaptiveAugment("flip,translation,color,cutout", initial_p=1.0), id="ada-p1"
    ),
]


# --- the common API -------------------------------------------------------------------------------


@pytest.mark.parametrize("make", ALL_AUGMENTS)
def test_eval_mode_is_an_identity(make):
    aug = make().eval()
    x, y = images(), images(c=1)
    assert aug(x) is x
    out = aug(x, y)
    assert isinstance(out, tuple) and out[0] is x and out[1] is y


@pytest.mark.parametrize("make", ALL_AUGMENTS)
def test_one_tensor_gives_a_tensor_and_several_give_a_tuple(make):
    aug = make()
    out = aug(images())
    assert isinstance(out, torch.Tensor) and out.shape == (4, 3, 8, 8)
    pair = aug(images(), images(c=1))
    assert isinstance(pair, tuple) and [t.shape for t in pair] == [(4, 3, 8, 8), (4, 1, 8, 8)]


def test_base_class_is_the_no_augmentation_choice():
    aug = Augmentation()
    x = images()
    assert aug(x) is x
    aug.observe(torch.randn(4))
    assert aug.probability is None
    assert DiffAugment().probability is None


@pytest.mark.parametrize(
    "make",
    [*ALL_AUGMENTS, pytest.param(lambda: AdaptiveAugment(initial_p=0.5), id="ada-p0.5")],
)
def test_one_draw_applies_to_every_tensor_of_a_call(make):
    torch.manual_seed(1)
    x = images()
    first, second = make()(x, x.clone())
    assert torch.equal(first, second)
    assert not torch.equal(first, x)


def test_paired_tensors_with_other_channel_counts_stay_aligned():
    # A grey copy moves and loses the same pixels as its colour original.
    torch.manual_seed(2)
    rgb = images()
    grey = rgb.mean(dim=1, keepdim=True)
    out_rgb, out_grey = DiffAugment("translation,cutout")(rgb, grey)
    assert torch.equal(out_rgb == 0, (out_grey == 0).expand_as(out_rgb))
    assert (out_grey == 0).any() and not (out_grey == 0).all()
    torch.testing.assert_close(out_rgb.mean(dim=1, keepdim=True), out_grey)


def test_mismatched_tensors_are_refused():
    with pytest.raises(ValueError, match="share N, H and W"):
        DiffAugment()(images(), images(size=4))
    with pytest.raises(ValueError, match="float NCHW"):
        DiffAugment()(torch.zeros(3, 8, 8))


def test_same_seed_same_augmentation():
    x = images()
    torch.manual_seed(3)
    first = DiffAugment()(x)
    torch.manual_seed(3)
    assert torch.equal(DiffAugment()(x), first)


# --- the ops --------------------------------------------------------------------------------------


def test_translation_matches_roll_with_zero_fill():
    x = images(n=4)
    dy, dx = torch.tensor([1, -1, 0, 3]), torch.tensor([-2, 0, 1, 3])
    out = augment._translate(x, dy, dx)
    for i in range(4):
        torch.testing.assert_close(out[i], shifted_by_roll(x[i], int(dy[i]), int(dx[i])))


def test_diffaugment_translation_uses_shifts_up_to_the_ratio():
    # 8 * 0.125 = 1 pixel at most; redraw the shifts from the same seed to know them.
    x = images(n=16)
    torch.manual_seed(4)
    dy = torch.randint(-1, 2, (16,))
    dx = torch.randint(-1, 2, (16,))
    torch.manual_seed(4)
    out = DiffAugment("translation")(x)
    for i in range(16):
        torch.testing.assert_close(out[i], shifted_by_roll(x[i], int(dy[i]), int(dx[i])))
    assert len(set(zip(dy.tolist(), dx.tolist(), strict=True))) > 1


def test_cutout_zeroes_a_square_of_the_given_side():
    ones = torch.ones(3, 2, 8, 8)
    out = augment._cutout(ones, torch.tensor([4, 0, 7]), torch.tensor([3, 0, 7]), 4, 4)
    assert (out[0] == 0).sum() == 2 * 16
    assert torch.equal(out[0, :, 2:6, 1:5], torch.zeros(2, 4, 4))
    # clipped at the corner: 2 x 2 of the 4 x 4 box is inside the image
    assert torch.equal(out[1, :, :2, :2], torch.zeros(2, 2, 2)) and (out[1] == 0).sum() == 2 * 4
    assert torch.equal(out[2, :, 5:, 5:], torch.zeros(2, 3, 3)) and (out[2] == 0).sum() == 2 * 9


def test_diffaugment_cutout_zeroes_one_box_per_sample():
    # Side round(0.5 * 8) = 4; centres redrawn from the same seed give the clipped areas.
    n = 32
    torch.manual_seed(5)
    cy, cx = torch.randint(0, 9, (n,)), torch.randint(0, 9, (n,))
    torch.manual_seed(5)
    out = DiffAugment("cutout")(torch.ones(n, 3, 8, 8))
    for i in range(n):
        rows = min(int(cy[i]) + 2, 8) - max(int(cy[i]) - 2, 0)
        cols = min(int(cx[i]) + 2, 8) - max(int(cx[i]) - 2, 0)
        zero = out[i, 0] == 0
        assert zero.sum() == rows * cols
        assert torch.equal(out[i] == 0, zero.expand(3, 8, 8))
        assert zero.any(dim=1).sum() == rows and zero.any(dim=0).sum() == cols
    assert ((out[:, 0] == 0).sum(dim=(1, 2)) == 16).any()


def test_colour_formulas_by_hand():
    x = torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1).repeat(2, 1, 1, 2)
    x[:, :, 0, 1] = torch.tensor([-1.0, 0.0, 1.0])  # second pixel, channel mean 0
    bright = augment._brightness(x, torch.tensor([0.5, -0.25]))
    torch.testing.assert_close(bright[0], x[0] + 0.5)
    torch.testing.assert_close(bright[1], x[1] - 0.25)

    sat = augment._saturation(x, torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(sat[0, :, 0, 0], torch.tensor([0.0, 0.4, 0.8]))
    torch.testing.assert_close(sat[0, :, 0, 1], torch.tensor([-2.0, 0.0, 2.0]))
    torch.testing.assert_close(sat[1, :, 0, 0], torch.full((3,), 0.4))  # factor 0: grey
    torch.testing.assert_close(sat[1, :, 0, 1], torch.zeros(3))
    grey = x[:, :1]
    assert torch.equal(augment._saturation(grey, torch.tensor([2.0, 0.0])), grey)

    # sample mean over C, H, W: (0.2 + 0.4 + 0.6 - 1 + 0 + 1) / 6 = 0.2
    con = augment._contrast(x, torch.tensor([1.5, 0.5]))
    torch.testing.assert_close(con[0], (x[0] - 0.2) * 1.5 + 0.2)
    torch.testing.assert_close(con[1], (x[1] - 0.2) * 0.5 + 0.2)


def test_diffaugment_colour_uses_the_papers_ranges():
    x = images(n=6)
    torch.manual_seed(6)
    shift = torch.rand(6) - 0.5
    sat = torch.rand(6) * 2
    con = torch.rand(6) + 0.5
    expected = augment._contrast(augment._saturation(augment._brightness(x, shift), sat), con)
    torch.manual_seed(6)
    torch.testing.assert_close(DiffAugment("color")(x), expected)


def test_flip_mirrors_left_right():
    x = torch.arange(4.0).view(1, 1, 1, 4)
    assert augment._flip(x).flatten().tolist() == [3.0, 2.0, 1.0, 0.0]


# --- gradients ------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", ALL_AUGMENTS)
def test_gradients_flow_and_double_backward_works(make):
    torch.manual_seed(7)
    aug = make()
    x = images().requires_grad_()
    aug(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0

    g = torch.autograd.grad(aug(x).pow(2).sum(), x, create_graph=True)[0]
    g.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all()


# --- ADA ------------------------------------------------------------------------------------------


def test_ada_p_moves_by_images_over_speed_and_stays_in_range():
    ada = AdaptiveAugment(target=0.6, interval=2, speed_images=100, max_p=0.3)
    ada.observe(torch.ones(10))
    assert ada.p.item() == 0.0  # no adjustment before `interval` calls
    ada.observe(torch.ones(10))
    assert ada.p.item() == pytest.approx(0.2)
    assert ada.sign_sum.item() == ada.observed.item() == ada.images_seen.item() == 0
    assert ada.updates.item() == 0
    ada.observe(torch.ones(10))
    ada.observe(torch.ones(10))
    assert ada.p.item() == pytest.approx(0.3)  # clamped at max_p
    for _ in range(6):
        ada.observe(-torch.ones(10))
    assert ada.p.item() == 0.0  # 0.3 - 0.2 - 0.2 - 0.2, clamped at 0
    assert ada.probability is ada.p and ada.p.dtype == torch.float32 and ada.p.dim() == 0


def test_ada_compares_the_sign_mean_with_the_target():
    ada = AdaptiveAugment(target=0.6, interval=1, speed_images=100, initial_p=0.5)
    ada.observe(torch.tensor([1.0, 1.0, 1.0, -1.0]))  # r_t = 0.5 < 0.6: down by 4/100
    assert ada.p.item() == pytest.approx(0.46)
    ada.observe(torch.tensor([3.0, 0.1, 2.0, 5.0, -1.0]))  # r_t = 0.6: no move
    assert ada.p.item() == pytest.approx(0.46)
    ada.observe(torch.tensor([3.0, 0.1, 2.0, 5.0]))  # r_t = 1: up by 4/100
    assert ada.p.item() == pytest.approx(0.50)


def test_ada_counts_images_not_patch_logits():
    ada = AdaptiveAugment(interval=2, speed_images=100)
    ada.observe(torch.ones(10, 1, 4, 4))
    ada.observe(torch.ones(10, 1, 4, 4))
    assert ada.p.item() == pytest.approx(0.2)
    ada.observe(torch.ones(3, 7), images=5)
    ada.observe(torch.ones(3, 7), images=5)
    assert ada.p.item() == pytest.approx(0.3)


def test_ada_sums_the_window_over_ranks(monkeypatch):
    # Two ranks that saw the same logits: the reduce doubles the sums, so p moves by 40 images.
    reduced = []

    def all_reduce(tensor, op):
        reduced.append(op)
        tensor.mul_(2)

    monkeypatch.setattr(augment.dist, "is_available", lambda: True)
    monkeypatch.setattr(augment.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(augment.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(augment.dist, "all_reduce", all_reduce)
    ada = AdaptiveAugment(interval=2, speed_images=100)
    ada.observe(torch.ones(10))
    assert reduced == []  # only once per interval
    ada.observe(torch.ones(10))
    assert reduced == [augment.dist.ReduceOp.SUM]
    assert ada.p.item() == pytest.approx(0.4)


def test_ada_state_round_trips_through_state_dict():
    ada = AdaptiveAugment(interval=3, speed_images=100)
    for _ in range(3):
        ada.observe(torch.ones(7))
    ada.observe(torch.ones(5))  # one call into the next window
    state = ada.state_dict()
    assert {"p", "sign_sum", "observed", "images_seen", "updates"} <= set(state)

    fresh = AdaptiveAugment(interval=3, speed_images=100)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.p, ada.p) and fresh.p.item() == pytest.approx(0.21)
    assert fresh.updates.item() == 1 and fresh.images_seen.item() == 5
    fresh.observe(torch.ones(5))
    fresh.observe(torch.ones(5))  # the restored window closes after 3 calls, not 3 more
    assert fresh.p.item() == pytest.approx(0.36)


def test_ada_with_p_zero_is_an_identity_in_training():
    x = images()
    ada = AdaptiveAugment("flip,translation,color,cutout").train()
    assert torch.equal(ada(x), x)


def test_ada_with_p_one_changes_every_sample():
    x = images(n=16)  # random values: no sample is its own mirror image
    out = AdaptiveAugment("flip", initial_p=1.0)(x)
    assert torch.equal(out, x.flip(3))


def test_ada_draws_each_sample_independently():
    torch.manual_seed(8)
    x = images(n=64)
    out = AdaptiveAugment("flip", initial_p=0.5)(x)
    flipped = (out == x.flip(3)).flatten(1).all(dim=1)
    kept = (out == x).flatten(1).all(dim=1)
    assert torch.equal(flipped, ~kept)
    assert 0 < int(flipped.sum()) < 64


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DiffAugment("color,zoom"), r"'zoom' is unknown; allowed: color, translation"),
        (lambda: DiffAugment("flip"), r"'flip' is unknown"),
        (lambda: DiffAugment(" , "), "policy is empty"),
        (lambda: DiffAugment("color,color"), "repeats a word"),
        (lambda: DiffAugment(translation_ratio=1.0), r"translation_ratio must be in \[0, 1\)"),
        (lambda: DiffAugment(cutout_ratio=-0.1), r"cutout_ratio must be in \[0, 1\)"),
        (lambda: AdaptiveAugment("rotate"), r"'rotate' is unknown; allowed: flip"),
        (lambda: AdaptiveAugment(target=1.0), r"target must be in \(0, 1\)"),
        (lambda: AdaptiveAugment(target=0.0), r"target must be in \(0, 1\)"),
        (lambda: AdaptiveAugment(interval=0), "interval must be >= 1"),
        (lambda: AdaptiveAugment(speed_images=0), "speed_images must be >= 1"),
        (lambda: AdaptiveAugment(initial_p=0.5, max_p=0.4), "initial_p <= max_p"),
        (lambda: AdaptiveAugment(max_p=1.5), "max_p <= 1"),
        (lambda: AdaptiveAugment(cutout_ratio=1.0), "cutout_ratio must be in"),
    ],
)
def test_bad_options_raise_one_line_errors(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert "\n" not in str(error.value)
