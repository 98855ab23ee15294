from functools import partial

import pytest
import torch

from gan_lightning.latent import sample_latent
from gan_lightning.nets.common import conv_block, doubling_widths, halvings
from gan_lightning.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_lightning.nets.patchgan import PatchDiscriminator
from gan_lightning.nets.resnet import ResnetGenerator
from gan_lightning.nets.stackgan import StageDiscriminator, StageIGenerator


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_mlp_shapes_and_range(shape):
    g = MLPGenerator(latent_dim=16, out_shape=shape, hidden_dims=[32, 64, 128])
    d = MLPDiscriminator(in_shape=shape, hidden_dims=[128, 64, 32])
    x = g(torch.randn(5, 16))
    assert x.shape == (5, *shape)
    assert x.min() >= -1 and x.max() <= 1
    assert d(x).shape == (5,)


def test_mlp_layers_follow_the_seed_design():
    g = MLPGenerator(latent_dim=4, out_shape=(1, 2, 2), hidden_dims=[8, 8, 8], dropout=0.3)
    kinds = [type(m).__name__ for m in g.body]
    assert kinds == ["Linear", "LeakyReLU", "Dropout"] * 3
    assert all(m.negative_slope == 0.2 for m in g.body if isinstance(m, torch.nn.LeakyReLU))


def test_conditional_mlp_takes_one_hot_labels():
    g = MLPGenerator(latent_dim=8, out_shape=(1, 8, 8), hidden_dims=[16], num_classes=10)
    d = MLPDiscriminator(in_shape=(1, 8, 8), hidden_dims=[16], num_classes=10)
    onehot = torch.nn.functional.one_hot(torch.arange(4), 10)
    x = g(torch.randn(4, 8), onehot)
    assert x.shape == (4, 1, 8, 8)
    assert d(x, onehot).shape == (4,)


def test_latent_distributions():
    torch.manual_seed(0)
    u = sample_latent(10_000, 4, "uniform")
    assert u.min() >= -1 and u.max() <= 1 and abs(u.mean().item()) < 0.05
    n = sample_latent(10_000, 4, "normal")
    assert abs(n.std().item() - 1) < 0.05
    with pytest.raises(ValueError, match="latent_distribution"):
        sample_latent(1, 1, "cauchy")


@pytest.mark.parametrize(
    "norm, kinds, bias",
    [
        ("batch", ["Conv2d", "BatchNorm2d", "ReLU"], False),  # BatchNorm cancels a bias
        ("none", ["Conv2d", "Identity", "ReLU"], True),  # same slots whatever the norm
        (None, ["Conv2d", "ReLU"], True),  # a discriminator's first layer
    ],
)
def test_conv_block_norm_slots(norm, kinds, bias):
    layers = conv_block(3, 4, 4, 2, 1, norm=norm)
    assert [type(m).__name__ for m in layers] == kinds
    assert (layers[0].bias is not None) == bias


def test_checkpoint_keys_do_not_move():
    """State-dict indices are what old checkpoints load by: the shared blocks must keep them."""
    patch = PatchDiscriminator(norm="none", num_layers=2, base_width=2).state_dict()
    assert [k for k in patch if k.endswith("weight")] == [f"body.{i}.weight" for i in (0, 2, 5, 8)]
    resnet = ResnetGenerator(
        image_size=8, base_width=2, num_blocks=1, norm="instance", design="paper"
    )
    assert [k for k in resnet.state_dict() if k.endswith("weight")] == [
        "encoder.0.weight",
        "encoder.3.weight",
        "encoder.6.weight",
        "blocks.0.body.0.weight",
        "blocks.0.body.3.weight",
        "decoder.0.weight",
        "decoder.3.weight",
        "decoder.6.weight",
    ]


def test_width_schedule_helpers():
    assert [halvings(size, 4) for size in (4, 32, 48, 2)] == [0, 3, None, None]
    assert doubling_widths(8, 6) == [8, 16, 32, 64, 64, 64]  # capped at 8x
    assert doubling_widths(8, 6, cap=None)[-1] == 256


@pytest.mark.parametrize("size", [4, 12])
def test_stackgan_stage_sizes_named(size):
    for build in (partial(StageIGenerator, 8, 4), partial(StageDiscriminator, 6)):
        with pytest.raises(ValueError, match=f"8 times a power of two .*, got {size}"):
            build(image_size=size)


def test_the_stage_discriminator_without_norm_judges_each_image_alone():
    d = StageDiscriminator(6, image_size=16, channels=1, base_width=4, norm="none")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    images, text = torch.randn(4, 1, 16, 16), torch.randn(4, 6)
    assert torch.allclose(d(images, text)[:2], d(images[:2], text[:2]), atol=1e-6)
    with pytest.raises(ValueError, match="norm must be one of batch, instance, none"):
        StageDiscriminator(6, norm="group")
