"""Sizes and counts that must be positive, and settings built late (optimizers, schedulers),
are refused at start-up in one line naming the key."""

from __future__ import annotations

import pytest
from torch import nn

from gan_lightning.commands import compose
from gan_lightning.config_check import check_config
from gan_lightning.errors import SettingError, UserError
from gan_lightning.training.options import TrainingOptions

# composed outside a running app: no ${hydra:...} to resolve
NO_APP = ("hydra.run.dir=unused", "paths.output_dir=unused")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (("model.latent_dim=0",), "model.latent_dim: must be positive, got 0"),
        (("model=gan", "model.latent_dim=-3"), "model.latent_dim: must be positive, got -3"),
        (("model=dcgan", "model.generator.base_width=0"), "model.generator.base_width: must be"),
        (
            ("model.discriminator.hidden_dims=[64,0]",),
            r"model.discriminator.hidden_dims: each item must be positive, got \[64, 0\]",
        ),
        (("data.limit=0",), "data.limit: must be positive, got 0"),
        (("data.loader.batch_size=0",), "data.loader.batch_size: must be positive, got 0"),
        (("model.training.d_steps=0",), "model.training.d_steps: must be positive, got 0"),
        (
            ("callbacks.evaluation.num_samples=0",),
            "callbacks.evaluation.num_samples: must be positive, got 0",
        ),
        (("data=ring", "model=gan2d", "data.num_samples=0"), "data.num_samples: must be"),
    ],
)
def test_a_size_or_count_that_is_not_positive_is_one_line(overrides, message):
    with pytest.raises(UserError, match=message):
        check_config(compose("train", [*overrides, *NO_APP]))


@pytest.mark.parametrize(
    "overrides",
    [("data.limit=null",), ("model.latent_dim=1",), ("model.discriminator.hidden_dims=[1]",)],
)
def test_positive_values_and_null_pass(overrides):
    check_config(compose("train", [*overrides, *NO_APP]))


def adam(lr: float):
    from functools import partial

    import torch

    return partial(torch.optim.Adam, lr=lr)


def test_a_bad_optimizer_or_scheduler_fails_when_the_options_are_built():
    with pytest.raises(SettingError, match="optimizer: Invalid learning rate: -0.001"):
        TrainingOptions(optimizer=adam(-0.001))
    with pytest.raises(SettingError, match="d_optimizer: Invalid learning rate: -1"):
        TrainingOptions(optimizer=adam(1e-3), d_optimizer=adam(-1))

    def broken_scheduler(optimizer):
        raise ValueError("gamma must be positive")

    with pytest.raises(SettingError, match="scheduler: gamma must be positive"):
        TrainingOptions(optimizer=adam(1e-3), scheduler=broken_scheduler)
    options = TrainingOptions(optimizer=adam(1e-3))
    net = nn.Linear(2, 2)
    d_opt, g_opt = options.optimizers(net.parameters(), nn.Linear(2, 2).parameters())
    assert d_opt.param_groups[0]["params"][0] is net.weight  # the probe left nothing behind
