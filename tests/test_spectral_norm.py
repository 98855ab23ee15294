"""Spectral normalisation (Miyato et al. 2018) as an option of every discriminator."""

from __future__ import annotations

import io
import json

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils import parametrize

from gan_lightning.commands import compose
from gan_lightning.config_check import check_config
from gan_lightning.nets.common import SPECTRAL_NORM_LAYERS
from gan_lightning.nets.dcgan import DCGANDiscriminator
from gan_lightning.nets.mlp import MLPDiscriminator
from gan_lightning.nets.patchgan import PatchDiscriminator
from gan_lightning.nets.stackgan import StageDiscriminator
from tests.conftest import run_cli

# name: (class, arguments, inputs); small, and covering every layer kind a D has: Linear, Conv,
# BatchNorm / InstanceNorm, the conditional and PacGAN inputs, StackGAN's text projection.
CASES = {
    "mlp": (
        MLPDiscriminator,
        dict(in_shape=(1, 8, 8), hidden_dims=(32, 16), num_classes=3, minibatch_std=True),
        lambda: (torch.randn(6, 1, 8, 8), torch.eye(3)[[0, 1, 2, 0, 1, 2]]),
    ),
    "dcgan-radford": (
        DCGANDiscriminator,
        dict(image_size=32, channels=1, base_width=4, pack=2),
        lambda: (torch.randn(4, 2, 32, 32),),
    ),
    "dcgan-course": (
        DCGANDiscriminator,
        dict(image_size=32, channels=3, base_width=4, design="course", num_classes=2),
        lambda: (torch.randn(4, 3, 32, 32), torch.eye(2)[[0, 1, 0, 1]]),
    ),
    "patchgan-batch": (
        PatchDiscriminator,
        dict(in_channels=3, base_width=4, num_layers=2),
        lambda: (torch.randn(2, 3, 32, 32),),
    ),
    "patchgan-instance": (
        PatchDiscriminator,
        dict(in_channels=2, base_width=4, num_layers=2, norm="instance", design="paper"),
        lambda: (torch.randn(2, 2, 32, 32),),
    ),
    "stackgan": (
        StageDiscriminator,
        dict(text_dim=6, image_size=16, channels=1, base_width=4, text_features=4),
        lambda: (torch.randn(4, 1, 16, 16), torch.randn(4, 6)),
    ),
}
cases = pytest.mark.parametrize("case", list(CASES))


def build(case: str, seed: int = 0, **options) -> nn.Module:
    cls, kwargs, _ = CASES[case]
    torch.manual_seed(seed)
    return cls(**kwargs, **options)


def inputs(case: str, seed: int = 1) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(seed)
    return CASES[case][2]()


def forward(net: nn.Module, args, seed: int = 2) -> torch.Tensor:
    torch.manual_seed(seed)  # the same dropout mask in both nets compared
    return net(*args)


def normalised_layers(net: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in net.named_modules() if isinstance(m, SPECTRAL_NORM_LAYERS)}


def power_buffers(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items() if k.endswith(("._u", "._v"))}


@cases
def test_each_weight_used_in_forward_has_spectral_norm_one(case):
    net = build(case, spectral_norm=True).train()
    args = inputs(case)
    for _ in range(30):  # power iterations on top of the 15 made when it is registered
        net(*args)
    layers = normalised_layers(net)
    assert layers
    for scale in (1.0, 5.0):  # the weights D learns are rescaled to norm 1 whatever their scale
        with torch.no_grad():
            for layer in layers.values():
                layer.parametrizations.weight.original.mul_(scale)
        net(*args)
        for name, layer in layers.items():
            sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=0.01), name


@cases
def test_parameters_are_named_as_the_parametrization_names_them(case):
    plain, normed = build(case), build(case, spectral_norm=True)
    layers = normalised_layers(plain)
    expected = []
    for key in plain.state_dict():
        owner, _, leaf = key.rpartition(".")
        if owner in layers and leaf == "weight":
            expected += [
                f"{owner}.parametrizations.weight.{s}" for s in ("original", "0._u", "0._v")
            ]
        else:
            expected.append(key)
    assert sorted(normed.state_dict()) == sorted(expected)
    for name, layer in normalised_layers(normed).items():
        assert parametrize.is_parametrized(layer, "weight"), name
        assert not parametrize.is_parametrized(layer, "bias"), name
    norms = [m for m in normed.modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))]
    assert not any(parametrize.is_parametrized(m) for m in norms)  # norm layers stay as chosen
    assert any(isinstance(m, nn.BatchNorm2d) for m in normed.modules()) == (
        "batch" in case or case.startswith(("dcgan", "stackgan"))
    )
    # the weight init is the same with the option on: it is applied before the parametrization
    for name, layer in normalised_layers(normed).items():
        original = layer.parametrizations.weight.original
        assert torch.equal(original, layers[name].weight), name


@cases
def test_off_leaves_the_module_unchanged(case):
    default, off = build(case), build(case, spectral_norm=False)
    assert not any(parametrize.is_parametrized(m) for m in off.modules())
    assert repr(off) == repr(default)
    assert list(off.state_dict()) == list(default.state_dict())
    for key, value in default.state_dict().items():
        assert torch.equal(off.state_dict()[key], value), key
    args = inputs(case)
    assert torch.equal(forward(off.train(), args), forward(default.train(), args))


@cases
def test_a_loaded_state_dict_continues_the_power_iteration_exactly(case):
    net = build(case, spectral_norm=True).train()
    args = inputs(case)
    for step in range(3):
        forward(net, args, seed=10 + step)
    checkpoint = io.BytesIO()
    torch.save(net.state_dict(), checkpoint)
    checkpoint.seek(0)
    resumed = build(case, seed=123, spectral_norm=True).train()  # other init, other u and v
    resumed.load_state_dict(torch.load(checkpoint))
    assert power_buffers(resumed).keys() == power_buffers(net).keys()
    for _ in range(2):  # one more train-mode forward each, twice: u and v move in step
        assert torch.equal(forward(resumed, args), forward(net, args))
        for key, value in power_buffers(net).items():
            assert torch.equal(power_buffers(resumed)[key], value), key


@cases
def test_eval_mode_does_not_update_the_vectors(case):
    net = build(case, spectral_norm=True).train()
    args = inputs(case)
    forward(net, args)
    before = power_buffers(net)
    net.eval()
    first = forward(net, args)
    second = forward(net, args)
    assert torch.equal(first, second)
    for key, value in power_buffers(net).items():
        assert torch.equal(value, before[key]), key
    with torch.no_grad():  # a training step's change of the weights ...
        for layer in normalised_layers(net).values():
            layer.parametrizations.weight.original.add_(0.1 * torch.randn_like(layer.weight))
    forward(net, args)
    assert power_buffers(net).keys() == before.keys()
    for key, value in power_buffers(net).items():  # ... is not tracked in eval mode
        assert torch.equal(value, before[key]), key
    net.train()
    forward(net, args)  # and is in train mode
    for key, value in power_buffers(net).items():
        if value.numel() > 1:  # u of a one-logit layer is always [1]
            assert not torch.equal(value, before[key]), key


CONFIGS = {
    "gan": (["model=gan"], ["model.discriminator"]),
    "dcgan": (["model=dcgan", "data.image_size=32"], ["model.discriminator"]),
    "cgan": (["model=cgan", "model/nets=dcgan", "data.image_size=32"], ["model.discriminator"]),
    "gan2d": (["model=gan2d", "data=ring"], ["model.discriminator"]),
    "cyclegan": (
        ["model=cyclegan", "data=unpaired", "data.root=/nowhere", "data.image_size=64"],
        ["model.discriminator_a", "model.discriminator_b"],
    ),
    "pix2pix": (
        ["model=pix2pix", "data=paired", "data.root=/nowhere", "data.image_size=64"],
        ["model.discriminator"],
    ),
    "stackgan": (
        ["model=stackgan", "data=digit_captions"],
        ["model.discriminator1", "model.discriminator2"],
    ),
}


def model_and_data(cfg):
    """The config's model and data nodes (the trainer's resolve only inside a Hydra run)."""
    return OmegaConf.masked_copy(cfg, ["model", "data", "paths"])


def _node(cfg, path: str):
    for part in path.split(".")[1:]:
        cfg = cfg[part]
    return cfg


@pytest.mark.parametrize("model", list(CONFIGS))
def test_every_discriminator_config_has_the_key_and_passes_the_check(model):
    overrides, paths = CONFIGS[model]
    cfg = compose("train", [*overrides, "hydra.run.dir=unused"])
    check_config(model_and_data(cfg))
    assert all(_node(cfg.model, path).spectral_norm is False for path in paths)
    # SN-GAN's D: the discriminators that have a norm layer can drop it (the MLP's has none)
    has_norm = "norm" in _node(cfg.model, paths[0])
    assert has_norm == (model not in ("gan", "gan2d")), model
    norm_free = [f"{paths[0]}.norm=none"] if has_norm else []
    switches = [f"{paths[0]}.spectral_norm=true", *norm_free]
    on = compose("train", [*overrides, *switches, "hydra.run.dir=unused"])
    check_config(model_and_data(on))
    for path in paths:  # CycleGAN's D_B and StackGAN's second D follow the first D's switches
        node = _node(on.model, path)
        assert node.spectral_norm is True, path
        net = instantiate(node)
        assert all(parametrize.is_parametrized(m) for m in normalised_layers(net).values()), path
        norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d)]
        assert not (has_norm and norms), path


def test_sn_gans_norm_free_dcgan_d_trains_from_the_command_line(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "model=dcgan",
        "data=digits",
        "data.image_size=32",
        "model.discriminator.spectral_norm=true",
        "model.discriminator.norm=none",
        "debug=fast_dev_run",
        "data.loader.batch_size=16",
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"


def test_the_ddp_check_compares_the_power_iteration_vectors_too():
    from gan_lightning.callbacks.ddp_check import spectral_norm_vectors
    from gan_lightning.nets.mlp import MLPDiscriminator

    plain = MLPDiscriminator((1, 8, 8), hidden_dims=[16])
    normalised = MLPDiscriminator((1, 8, 8), hidden_dims=[16], spectral_norm=True)
    assert list(spectral_norm_vectors(plain)) == []
    linears = sum(isinstance(m, torch.nn.Linear) for m in normalised.modules())
    assert len(list(spectral_norm_vectors(normalised))) == 2 * linears  # a u and a v each
