"""Projection discriminator and conditional BatchNorm: the cGAN's other ways to use the label."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils import parametrize

from gan_lightning.commands import compose
from gan_lightning.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_lightning.nets.layers import ConditionalBatchNorm
from gan_lightning.nets.mlp import MLPDiscriminator, MLPGenerator
from tests.conftest import run_cli

K = 5  # classes


def one_hot(labels) -> torch.Tensor:
    return F.one_hot(torch.as_tensor(labels), K).float()


def mlp_d(**kw):
    return MLPDiscriminator((1, 8, 8), (32, 16), num_classes=K, **kw)


def dcgan_d(design="radford", **kw):
    return DCGANDiscriminator(32, 1, 8, num_classes=K, design=design, **kw)


PROJECTION_DS = {
    "mlp": lambda **kw: mlp_d(conditioning="projection", **kw),
    "mlp_minibatch_std": lambda **kw: mlp_d(conditioning="projection", minibatch_std=True, **kw),
    "dcgan_radford": lambda **kw: dcgan_d("radford", conditioning="projection", **kw),
    "dcgan_course": lambda **kw: dcgan_d("course", conditioning="projection", **kw),
}


def features(net, x):
    """phi(x) from the module's own layers: the input to its final (psi) layer."""
    if isinstance(net, MLPDiscriminator):
        return net.spread(net.body(x.flatten(1)))
    return net.body(x)


def inputs(net, n=6):
    shape = (1, 8, 8) if isinstance(net, MLPDiscriminator) else (1, 32, 32)
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", PROJECTION_DS)
def test_projection_logit_is_psi_of_phi_plus_embedding_dot_phi(name):
    torch.manual_seed(0)
    net = PROJECTION_DS[name]().eval()
    x, y = inputs(net), one_hot([0, 1, 2, 3, 4, 2])
    phi = features(net, x)
    by_hand = net.head(phi).squeeze(1) + ((y @ net.embed.weight.T) * phi.flatten(1)).sum(1)
    torch.testing.assert_close(net(x, y), by_hand)
    # the label is not an input: the first layer sees the image (or sample) alone
    first = next(m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    assert first.weight.shape[1] == (64 if name.startswith("mlp") else 1)


@pytest.mark.parametrize("name", PROJECTION_DS)
def test_the_label_acts_only_through_the_projection_term(name):
    torch.manual_seed(0)
    net = PROJECTION_DS[name]().eval()
    x = inputs(net)
    y1, y2 = one_hot([0, 1, 2, 3, 4, 0]), one_hot([1, 1, 4, 0, 2, 3])
    phi = features(net, x).flatten(1)
    difference = (((y1 - y2) @ net.embed.weight.T) * phi).sum(1)
    torch.testing.assert_close(net(x, y1) - net(x, y2), difference)
    with torch.no_grad():
        net.embed.weight.zero_()
    torch.testing.assert_close(net(x, y1), net(x, y2))


@pytest.mark.parametrize("maps", [False, True])
def test_conditional_batch_norm_is_the_class_gain_and_bias_on_the_normalised_input(maps):
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm(3, K, maps=maps)
    with torch.no_grad():
        cbn.gain.weight.normal_(1.0, 0.5)
        cbn.bias.weight.normal_()
    x = torch.randn(8, 3, 4, 4) if maps else torch.randn(8, 3)
    labels = torch.tensor([0, 1, 2, 3, 4, 4, 1, 0])
    dims = (0, 2, 3) if maps else (0,)
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    normalised = (x - mean) / torch.sqrt(var + cbn.norm.eps)
    shape = (8, 3, 1, 1) if maps else (8, 3)
    gamma = cbn.gain.weight.T[labels].view(shape)  # column c of the weight is class c's gain
    beta = cbn.bias.weight.T[labels].view(shape)
    torch.testing.assert_close(cbn(x, one_hot(labels)), gamma * normalised + beta)


@pytest.mark.parametrize("maps", [False, True])
def test_conditional_batch_norm_starts_as_affine_free_batch_norm(maps):
    cbn = ConditionalBatchNorm(3, K, maps=maps)
    plain = (nn.BatchNorm2d if maps else nn.BatchNorm1d)(3, affine=False)
    x = torch.randn(8, 3, 4, 4) if maps else torch.randn(8, 3)
    y = one_hot(torch.arange(8) % K)
    torch.testing.assert_close(cbn(x, y), plain(x))
    torch.testing.assert_close(cbn.norm.running_mean, plain.running_mean)


GENERATORS = {
    "mlp": lambda **kw: MLPGenerator(8, (1, 8, 8), (16, 32), num_classes=K, batch_norm=True, **kw),
    "dcgan_radford": lambda **kw: DCGANGenerator(8, 32, 1, 8, num_classes=K, **kw),
    "dcgan_course": lambda **kw: DCGANGenerator(8, 32, 1, 8, num_classes=K, design="course", **kw),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_cbn_generators_replace_every_batch_norm_and_take_z_alone(name):
    concat, net = GENERATORS[name](), GENERATORS[name](conditioning="cbn").eval()
    norms = [m for m in net.modules() if isinstance(m, ConditionalBatchNorm)]
    plain = [m for m in concat.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert len(norms) == len(plain) > 0
    for cbn in norms:  # gains 1 and biases 0, after DCGAN's N(0, 0.02) init too
        assert torch.equal(cbn.gain.weight, torch.ones_like(cbn.gain.weight))
        assert torch.equal(cbn.bias.weight, torch.zeros_like(cbn.bias.weight))
    first = next(m for m in net.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d)))
    assert first.weight.shape[1 if isinstance(first, nn.Linear) else 0] == 8  # latent_dim only
    z, y1, y2 = torch.randn(6, 8), one_hot([0, 1, 2, 3, 4, 0]), one_hot([1, 2, 3, 4, 0, 1])
    assert torch.equal(net(z, y1), net(z, y2))  # at init the label has no effect yet
    with torch.no_grad():
        norms[0].bias.weight.normal_()
    out = net(z, y1)
    assert out.shape[0] == 6
    assert not torch.equal(out, net(z, y2))


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: MLPGenerator(8, (1, 8, 8), (16, 32), num_classes=K, batch_norm=True, **kw),
        lambda **kw: mlp_d(**kw),
        lambda **kw: DCGANGenerator(8, 32, 1, 8, num_classes=K, **kw),
        lambda **kw: dcgan_d(**kw),
        lambda **kw: dcgan_d("course", spectral_norm=True, **kw),
    ],
    ids=["mlp_g", "mlp_d", "dcgan_g", "dcgan_d", "dcgan_d_sn_course"],
)
def test_concat_is_the_default_and_unchanged(make):
    torch.manual_seed(0)
    default = make()
    torch.manual_seed(0)
    explicit = make(conditioning="concat")
    assert default.conditioning == "concat"
    assert list(default.state_dict()) == list(explicit.state_dict())
    assert not any(k.startswith("embed") or ".gain." in k for k in default.state_dict())
    for key, value in default.state_dict().items():
        assert torch.equal(value, explicit.state_dict()[key]), key
    is_g = isinstance(default, (MLPGenerator, DCGANGenerator))
    x = torch.randn(4, 8) if is_g else inputs(default, 4)
    y = one_hot([0, 1, 2, 3])
    torch.manual_seed(1)
    out = default(x, y)
    torch.manual_seed(1)
    assert torch.equal(out, explicit(x, y))
    # concat: the label widens the first layer's input
    layers = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
    first = next(m for m in default.modules() if isinstance(m, layers))
    in_dim = first.weight.shape[0 if isinstance(first, nn.ConvTranspose2d) else 1]
    assert in_dim in (8 + K, 64 + K, 1 + K)


def test_mlp_discriminator_default_state_dict_keys():
    assert list(mlp_d().state_dict()) == [
        "body.0.weight",
        "body.0.bias",
        "body.3.weight",
        "body.3.bias",
        "head.weight",
        "head.bias",
    ]
    assert list(mlp_d(conditioning="projection").state_dict())[-1] == "embed.weight"


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: mlp_d(conditioning="cbn"), "model.discriminator.conditioning must be one of"),
        (lambda: dcgan_d(conditioning="proj"), "concat, projection"),
        (
            lambda: DCGANGenerator(8, 32, 1, 8, num_classes=K, conditioning="projection"),
            "model.generator.conditioning must be one of concat, cbn",
        ),  # fmt: skip
        (lambda: MLPDiscriminator((1, 8, 8), conditioning="projection"), "labelled data set"),
        (lambda: DCGANGenerator(8, 32, 1, 8, conditioning="cbn"), "labelled data set"),
        (
            lambda: MLPGenerator(8, (1, 8, 8), num_classes=K, conditioning="cbn"),
            "model.generator.batch_norm=true",
        ),  # fmt: skip
    ],
)
def test_bad_conditioning_is_one_value_error_line(build, match):
    with pytest.raises(ValueError, match=match) as error:
        build()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["mlp", "dcgan_radford"])
def test_spectral_norm_also_normalises_the_class_embedding(name):
    torch.manual_seed(0)
    net = PROJECTION_DS[name](spectral_norm=True)
    assert parametrize.is_parametrized(net.embed, "weight")
    sigma = torch.linalg.matrix_norm(net.embed.weight.detach(), ord=2)
    torch.testing.assert_close(sigma, torch.tensor(1.0), atol=0.05, rtol=0)
    raw = net.embed.parametrizations.weight.original
    assert abs(torch.linalg.matrix_norm(raw.detach(), ord=2) - 1) > 0.05  # so SN rescaled it


@pytest.mark.parametrize("nets", ["mlp", "dcgan"])
def test_config_keys_default_to_concat_and_switch_both_nets(nets):
    base = ["model=cgan", f"model/nets={nets}", "data=digits", "hydra.run.dir=unused"]
    cfg = compose("train", base)
    assert cfg.model.generator.conditioning == cfg.model.discriminator.conditioning == "concat"
    switched = [
        "model.discriminator.conditioning=projection",
        "model.generator.conditioning=cbn",
        *(["model.generator.batch_norm=true"] if nets == "mlp" else ["data.image_size=32"]),
    ]
    cfg = OmegaConf.masked_copy(compose("train", base + switched), ["model", "data", "paths"])
    generator, discriminator = (
        instantiate(cfg.model.generator),
        instantiate(cfg.model.discriminator),
    )
    assert (generator.conditioning, discriminator.conditioning) == ("cbn", "projection")
    y = F.one_hot(torch.tensor([0, 1, 2, 9]), cfg.model.num_classes).float()
    fake = generator(torch.randn(4, cfg.model.latent_dim), y)
    assert discriminator(fake, y).shape == (4,)


def test_projection_and_cbn_train_from_the_command_line(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "model=cgan",
        "model/nets=dcgan",
        "data=digits",
        "data.image_size=32",
        "model.discriminator.conditioning=projection",
        "model.generator.conditioning=cbn",
        "model.discriminator.spectral_norm=true",
        "model.generator.base_width=8",
        "model.discriminator.base_width=8",
        "debug=fast_dev_run",
        "data.loader.batch_size=16",
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
