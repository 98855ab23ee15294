"""CycleGAN: networks, image pool, which nets each step moves, the loss terms, the schedule."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.losses import LeastSquaresLoss
from gan_lightning.models.adversarial import CHECKPOINT_KEY
from gan_lightning.models.cyclegan import CycleGAN
from gan_lightning.models.image_pool import ImagePool
from gan_lightning.nets.patchgan import PatchDiscriminator
from gan_lightning.nets.resnet import ResnetGenerator
from gan_lightning.schedules import ConstantThenLinear, constant_then_linear_decay
from gan_lightning.training.options import TrainingOptions
from tests.conftest import StepRecorder, quiet_trainer
from tests.training_options import with_training

NETS = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")


def small_nets(channels: int = 3, design: str = "course", norm: str = "batch") -> dict:
    def generator():
        return ResnetGenerator(channels, channels, 16, 8, 1, norm, design)

    def discriminator():
        return PatchDiscriminator(channels, 8, 2, norm, design)

    return dict(
        generator_ab=generator(),
        generator_ba=generator(),
        discriminator_a=discriminator(),
        discriminator_b=discriminator(),
    )


def make_cyclegan(**kwargs) -> CycleGAN:
    torch.manual_seed(0)
    defaults = dict(
        **small_nets(),
        loss=LeastSquaresLoss(),
        optimizer=partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999)),
        pool_size=4,
        num_grid_images=2,
    )
    defaults.update(kwargs)
    return CycleGAN(**with_training(defaults))


def unpaired_loader(n_batches: int = 3, batch_size: int = 2) -> DataLoader:
    a = torch.rand(n_batches * batch_size, 3, 16, 16) * 2 - 1
    b = torch.rand(n_batches * batch_size, 3, 16, 16) * 2 - 1
    return DataLoader(TensorDataset(a, b), batch_size=batch_size)


# --- networks ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("design", "size", "patches"), [("course", 128, 7), ("course", 64, 3), ("paper", 64, 6)]
)
def test_generator_keeps_the_size_and_discriminator_scores_patches(design, size, patches):
    generator = ResnetGenerator(3, 3, size, 16, 2, "instance", design)
    discriminator = PatchDiscriminator(3, 16, 3, "instance", design)
    x = torch.rand(2, 3, size, size) * 2 - 1
    y = generator(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert discriminator(y).shape == (2, 1, patches, patches)


def test_paper_networks_match_the_reference_sizes():
    """11.378M and 2.765M parameters: the counts of Zhu et al.'s resnet_9blocks / 70x70 D."""
    generator = ResnetGenerator(3, 3, 256, 64, 9, "instance", "paper")
    discriminator = PatchDiscriminator(3, 64, 3, "instance", "paper")
    assert sum(p.numel() for p in generator.parameters()) == 11_378_179
    assert sum(p.numel() for p in discriminator.parameters()) == 2_764_737
    assert discriminator(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize(("design", "layers", "smallest"), [("course", 3, 32), ("paper", 3, 24)])
def test_discriminator_states_its_smallest_input(design, layers, smallest):
    network = PatchDiscriminator(3, 8, layers, "batch", design, image_size=smallest)
    assert network(torch.zeros(2, 3, smallest, smallest)).shape[-1] == 1
    with pytest.raises(ValueError, match=f"needs >= {smallest}"):
        PatchDiscriminator(3, 8, layers, "batch", design, image_size=smallest - 1)


def test_grey_to_colour_generator():
    assert ResnetGenerator(1, 3, 32, 8, 1)(torch.zeros(2, 1, 32, 32)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(image_size=60), "multiple of 8"),
        (dict(design="unet"), "design must be one of"),
        (dict(norm="layer"), "norm must be one of"),
        (dict(num_blocks=-1), "num_blocks"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResnetGenerator(**kwargs)


# --- image pool --------------------------------------------------------------------------------
def test_empty_pool_passes_images_through():
    images = torch.rand(3, 1, 2, 2)
    assert ImagePool(0).query(images) is images


def test_pool_returns_new_images_until_full_then_a_mix():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: every image is returned as it is
    returned_old = returned_new = 0
    seen = set(first.flatten().tolist())
    for step in range(50):
        new = torch.full((2, 1, 1, 1), 100.0 + step)
        out = pool.query(new).flatten().tolist()
        for value in out:
            assert value in seen or value == 100.0 + step  # only stored or current images
            returned_new += value == 100.0 + step
            returned_old += value != 100.0 + step
        seen.add(100.0 + step)
    assert pool.count == 4
    # each image is swapped for a stored one with probability 1/2: 100 draws, both well above 30
    assert returned_old > 30 and returned_new > 30


def test_pool_state_round_trip():
    pool = ImagePool(3)
    pool.query(torch.rand(2, 1, 2, 2))
    restored = ImagePool(3)
    restored.load_state_dict(pool.state_dict())
    assert restored.count == 2
    torch.manual_seed(1)
    a = pool.query(torch.ones(4, 1, 2, 2))
    torch.manual_seed(1)
    b = restored.query(torch.ones(4, 1, 2, 2))
    assert torch.equal(a, b)


# --- the module --------------------------------------------------------------------------------
class RecordingCycleGAN(StepRecorder, CycleGAN):
    """Records which of the four networks moved during each D update and each G update."""

    recorded_nets = NETS


def test_each_step_moves_only_its_own_networks():
    model = RecordingCycleGAN(
        **small_nets(),
        loss=LeastSquaresLoss(),
        training=TrainingOptions(optimizer=partial(torch.optim.Adam, lr=1e-3)),
        lambda_identity=0.5,
    )
    quiet_trainer(max_steps=4).fit(model, unpaired_loader())
    d_nets, g_nets = {"discriminator_a", "discriminator_b"}, {"generator_ab", "generator_ba"}
    assert model.events == [("D", d_nets), ("G", g_nets)] * 2
    assert model.leaks == []


def test_generator_loss_is_adversarial_plus_weighted_cycle_and_identity():
    model = make_cyclegan(lambda_cycle=10.0, lambda_identity=0.5)
    batch = (torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1)
    model.eval()  # BatchNorm on running stats: repeated forward passes agree
    loss, logs = model.generator_loss(batch)
    expected = logs["g_adversarial"] + 10.0 * logs["cycle_loss"] + 5.0 * logs["identity_loss"]
    assert torch.allclose(loss, expected, rtol=1e-5)
    real_a = batch[0]
    cycle_a = (model.generator_ba(model.generator_ab(real_a)) - real_a).abs().mean()
    assert torch.allclose(logs["cycle_a"], cycle_a, rtol=1e-5)


def test_discriminator_loss_is_half_the_lsgan_sum():
    model = make_cyclegan(pool_size=0)
    model.eval()
    a, b = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    loss, logs = model.discriminator_loss((a, b))
    fake_b, fake_a = model.generator_ab(a), model.generator_ba(b)
    la = (model.discriminator_a(a) - 1).pow(2).mean() + model.discriminator_a(fake_a).pow(2).mean()
    lb = (model.discriminator_b(b) - 1).pow(2).mean() + model.discriminator_b(fake_b).pow(2).mean()
    assert torch.allclose(loss, 0.5 * (la + lb), rtol=1e-5)
    assert torch.allclose(logs["d_a_loss"], la, rtol=1e-5)


def test_identity_loss_needs_equal_channels():
    nets = small_nets()
    nets["generator_ab"] = ResnetGenerator(1, 3, 16, 8, 1)
    nets["generator_ba"] = ResnetGenerator(3, 1, 16, 8, 1)
    with pytest.raises(ValueError, match="lambda_identity=0"):
        make_cyclegan(**nets, lambda_identity=0.5)
    make_cyclegan(**nets, lambda_identity=0.0)


def test_grids_show_input_translation_reconstruction_and_pools_are_checkpointed(tmp_path):
    model = make_cyclegan()
    trainer = quiet_trainer(max_steps=4, default_root_dir=tmp_path)
    trainer.fit(model, unpaired_loader())
    grids = model.grid_images()
    assert set(grids) == {"A_to_B", "B_to_A"}
    rows, per_row = grids["A_to_B"]
    assert per_row == 3 and rows.shape == (6, 3, 16, 16)
    assert torch.equal(rows[0], model.preview.first[0])  # input first, then G(a), then F(G(a))
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    saved = torch.load(path, weights_only=True)[CHECKPOINT_KEY]["image_pools"]
    assert saved["a"]["images"].shape == (4, 3, 16, 16)  # 2 batches of 2 fakes filled the pool
    fresh = make_cyclegan()
    fresh.on_load_checkpoint(torch.load(path, weights_only=True))
    assert torch.equal(fresh.pool_a.state_dict()["images"], saved["a"]["images"])


def test_constant_then_linear_schedule():
    """Zhu et al.'s rule: epochs 0..n-1 at full lr, then 1 - k / (decay + 1) for the k-th."""
    rule = ConstantThenLinear(constant_epochs=3, decay_epochs=3)
    assert [rule(e) for e in range(6)] == pytest.approx([1, 1, 1, 0.75, 0.5, 0.25])
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)
    scheduler = constant_then_linear_decay(optimizer, 1, 1)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert isinstance(scheduler.state_dict()["lr_lambdas"][0], dict)  # plain numbers, no code
