import pytest
import torch
from torch import nn

from gan_lightning.nets.dcgan import DCGANDiscriminator, DCGANGenerator

SIZES = [32, 64, 128]
DESIGNS = ["radford", "course"]


def _kinds(net: nn.Module) -> list[str]:
    return [type(m).__name__ for m in net.modules() if not list(m.children())]


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("size", SIZES)
def test_dcgan_shapes_and_range(design, size):
    g = DCGANGenerator(latent_dim=16, image_size=size, channels=3, base_width=8, design=design)
    d = DCGANDiscriminator(image_size=size, channels=3, base_width=8, design=design)
    x = g(torch.randn(4, 16))
    assert g.latent_dim == 16
    assert x.shape == (4, 3, size, size)
    assert x.min() >= -1 and x.max() <= 1
    logits = d(x)
    assert logits.shape == (4,)
    assert not torch.equal(logits, logits.sigmoid())  # raw logits, not probabilities


@pytest.mark.parametrize("design", DESIGNS)
def test_conditional_dcgan_takes_one_hot_labels(design):
    g = DCGANGenerator(latent_dim=8, channels=1, base_width=8, num_classes=10, design=design)
    d = DCGANDiscriminator(channels=1, base_width=8, num_classes=10, design=design)
    onehot = nn.functional.one_hot(torch.arange(4), 10)
    x = g(torch.randn(4, 8), onehot)
    assert x.shape == (4, 1, 32, 32)
    assert d(x, onehot).shape == (4,)
    assert d.body[0].in_channels == 1 + 10
    # The label changes the output: it really is an input of both networks.
    g.eval()
    d.eval()
    z = torch.randn(1, 8).expand(2, -1)
    two = nn.functional.one_hot(torch.tensor([0, 1]), 10)
    out = g(z, two)
    assert not torch.allclose(out[0], out[1])
    same = x[:1].expand(2, -1, -1, -1)
    scores = d(same, two)
    assert not torch.allclose(scores[0], scores[1])


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("net", [DCGANGenerator, DCGANDiscriminator])
def test_unsupported_image_size_names_allowed_values(design, net):
    kwargs = {"latent_dim": 8} if net is DCGANGenerator else {}
    with pytest.raises(
        ValueError, match=f"32, 64, 128 for the {design} DCGAN \\(data.image_size\\), got 48"
    ):
        net(image_size=48, design=design, **kwargs)


@pytest.mark.parametrize("net", [DCGANGenerator, DCGANDiscriminator])
def test_unsupported_design_names_allowed_values(net):
    kwargs = {"latent_dim": 8} if net is DCGANGenerator else {}
    with pytest.raises(ValueError, match="radford, course, got 'wgan'"):
        net(design="wgan", **kwargs)


def test_init_weights_follows_radford():
    torch.manual_seed(0)
    d = DCGANDiscriminator(base_width=64, init_weights=True)
    first = d.body[0].weight
    assert abs(first.std().item() - 0.02) < 0.002
    assert abs(first.mean().item()) < 0.002
    bns = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(abs(m.weight.mean().item() - 1) < 0.01 for m in bns)
    assert all(m.bias.abs().max() == 0 for m in bns)
    g = DCGANGenerator(latent_dim=100, base_width=64, init_weights=True)
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert all(abs(m.weight.std().item() - 0.02) < 0.002 for m in convs)


def test_init_weights_false_keeps_pytorch_defaults():
    torch.manual_seed(0)
    d = DCGANDiscriminator(base_width=64, init_weights=False)
    # PyTorch's default for a 3->64 4x4 conv is U(+-1/sqrt(48)), std ~0.083.
    assert abs(d.body[0].weight.std().item() - 0.02) > 0.03
    bns = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in bns)


def test_course_design_layer_sequence():
    g = DCGANGenerator(latent_dim=16, base_width=8, design="course")
    assert _kinds(g) == [
        "Linear",
        "Unflatten",
        *["ConvTranspose2d", "BatchNorm2d", "ReLU"] * 2,
        "ConvTranspose2d",
        "Tanh",
    ]
    assert g.project[0].out_features == 4 * 8 * 4 * 4
    assert [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)] == [16, 8, 3]

    d = DCGANDiscriminator(base_width=8, design="course")
    assert _kinds(d) == [
        "Conv2d",
        "LeakyReLU",
        *["Conv2d", "BatchNorm2d", "LeakyReLU"] * 2,
        "Flatten",
        "Linear",
    ]
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [8, 16, 32]
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    assert all(
        (m.kernel_size, m.stride, m.padding) == ((4, 4), (2, 2), (1, 1))
        for m in [*g.modules(), *d.modules()]
        if isinstance(m, nn.modules.conv._ConvNd)
    )


@pytest.mark.parametrize("size, layers", [(32, 3), (64, 4), (128, 5)])
def test_radford_design_is_all_convolutional(size, layers):
    g = DCGANGenerator(latent_dim=16, image_size=size, base_width=8)
    d = DCGANDiscriminator(image_size=size, base_width=8)
    assert not any(isinstance(m, nn.Linear) for m in [*g.modules(), *d.modules()])
    g_convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    # G: one 4x4 s1 p0 projection, then one stride-2 layer per doubling; D mirrors it.
    assert len(g_convs) == len(d_convs) == layers + 1
    assert (g_convs[0].in_channels, g_convs[0].stride, g_convs[0].padding) == (16, (1, 1), (0, 0))
    assert (d_convs[-1].out_channels, d_convs[-1].stride, d_convs[-1].padding) == (
        1,
        (1, 1),
        (0, 0),
    )
    assert max(m.out_channels for m in g_convs) <= 8 * 8
    assert not isinstance(d.body[1], nn.BatchNorm2d)  # no BatchNorm on D's first layer


@pytest.mark.parametrize("design", DESIGNS)
def test_gradients_reach_every_generator_parameter(design):
    g = DCGANGenerator(latent_dim=8, base_width=8, num_classes=3, design=design)
    d = DCGANDiscriminator(base_width=8, num_classes=3, design=design)
    onehot = nn.functional.one_hot(torch.tensor([0, 1, 2, 0]), 3)
    fake = g(torch.randn(4, 8), onehot)
    loss = nn.functional.binary_cross_entropy_with_logits(d(fake, onehot), torch.ones(4))
    loss.backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def _layer_names(net: nn.Module) -> list[str]:
    return [name for name, m in net.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]


@pytest.mark.parametrize("design", DESIGNS)
def test_discriminator_without_norm_is_sn_gans_norm_free_d(design):
    batch = DCGANDiscriminator(base_width=8, design=design)
    free = DCGANDiscriminator(base_width=8, design=design, norm="none", spectral_norm=True)
    assert "BatchNorm2d" in _kinds(batch)
    norms = (nn.BatchNorm2d, nn.InstanceNorm2d)
    assert not any(isinstance(m, norms) for m in free.modules())
    assert _layer_names(free) == _layer_names(batch)  # an identity keeps each layer's index
    assert all(m.bias is not None for m in free.modules() if isinstance(m, nn.Conv2d))
    # In training mode BatchNorm makes a logit depend on the rest of the batch; without it not.
    x = torch.randn(4, 3, 32, 32)
    plain = DCGANDiscriminator(base_width=8, design=design, norm="none")
    assert torch.allclose(plain(x)[:2], plain(x[:2]), atol=1e-6)
    assert not torch.allclose(batch(x)[:2], batch(x[:2]), atol=1e-6)


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("design", DESIGNS)
def test_every_discriminator_norm_judges_images(norm, design):
    d = DCGANDiscriminator(image_size=64, base_width=8, design=design, norm=norm)
    kinds = {"batch": nn.BatchNorm2d, "instance": nn.InstanceNorm2d, "none": nn.Identity}
    assert sum(isinstance(m, kinds[norm]) for m in d.modules()) == 3  # every conv but the first
    assert d(torch.randn(2, 3, 64, 64)).shape == (2,)


def test_an_unknown_discriminator_norm_names_the_allowed_ones():
    with pytest.raises(ValueError, match="norm must be one of batch, instance, none, got 'layer'"):
        DCGANDiscriminator(norm="layer")
