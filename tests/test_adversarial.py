"""The shared adversarial step: which network each update touches, k D steps per G step."""

from __future__ import annotations

from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.losses import NonSaturatingLoss
from gan_lightning.models.adversarial import CHECKPOINT_KEY
from gan_lightning.models.gan import GAN
from gan_lightning.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_lightning.training.options import TrainingOptions
from gan_lightning.training.updates import gradient_norm
from tests.conftest import quiet_trainer
from tests.training_options import with_training

SHAPE = (1, 4, 4)


def make_gan(cls: type[GAN] = GAN, **kwargs) -> GAN:
    """A tiny MLP GAN on 4x4 images (``cls``: a subclass, e.g. a recording one)."""
    torch.manual_seed(0)
    defaults = dict(
        generator=MLPGenerator(latent_dim=8, out_shape=SHAPE, hidden_dims=[16], dropout=0.0),
        discriminator=MLPDiscriminator(in_shape=SHAPE, hidden_dims=[16], dropout=0.0),
        loss=NonSaturatingLoss(),
        optimizer=partial(torch.optim.SGD, lr=0.1),
        latent_dim=8,
        num_grid_samples=4,
    )
    defaults.update(kwargs)
    return cls(**with_training(defaults))


def loader(n_batches: int = 4, batch_size: int = 8) -> DataLoader:
    images = torch.rand(n_batches * batch_size, *SHAPE) * 2 - 1
    return DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=batch_size)


trainer = quiet_trainer


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


class RecordingGAN(GAN):
    """Records which networks moved during each D update and each G update."""

    def on_fit_start(self):
        self.events = []

    def discriminator_loss(self, batch):
        self._g, self._d = snapshot(self.generator), snapshot(self.discriminator)
        return super().discriminator_loss(batch)

    def generator_loss(self, batch):
        # called after the D update of the same batch: check what it changed, then re-snapshot
        self.events.append(
            ("D", changed(self._g, self.generator), changed(self._d, self.discriminator))
        )
        self._g, self._d = snapshot(self.generator), snapshot(self.discriminator)
        return super().generator_loss(batch)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.d_updates_since_g == 0:  # a G update happened in this batch
            self.events.append(
                ("G", changed(self._g, self.generator), changed(self._d, self.discriminator))
            )


def test_d_step_updates_only_d_and_g_step_only_g():
    model = RecordingGAN(
        generator=MLPGenerator(latent_dim=8, out_shape=SHAPE, hidden_dims=[16], dropout=0.0),
        discriminator=MLPDiscriminator(in_shape=SHAPE, hidden_dims=[16], dropout=0.0),
        loss=NonSaturatingLoss(),
        training=TrainingOptions(optimizer=partial(torch.optim.SGD, lr=0.1)),
        latent_dim=8,
    )
    trainer(max_steps=4).fit(model, loader())
    assert model.events == [("D", False, True), ("G", True, False)] * 2


def test_no_gradient_leaks_into_the_frozen_network():
    model = make_gan()
    real = torch.rand(8, *SHAPE)
    # D step under the toggle: G must get no gradient
    model.trainer = trainer()
    d_loss, _ = model.discriminator_loss((real, None))
    d_loss.backward()
    assert all(p.grad is None for p in model.generator.parameters())
    assert all(p.grad is not None for p in model.discriminator.parameters())


def test_k_discriminator_steps_per_generator_step():
    model = make_gan(d_steps=3)
    calls = []
    original = model.generator_loss

    def counting(batch):
        calls.append(model.trainer.fit_loop.epoch_loop.batch_idx)
        return original(batch)

    model.generator_loss = counting
    trainer(max_epochs=1).fit(model, loader(n_batches=6))
    assert calls == [2, 5]
    # global_step counts optimizer steps: 6 D updates + 2 G updates
    assert model.trainer.global_step == 8


def test_gradient_clipping_bounds_the_update():
    model = make_gan(d_grad_clip=1e-3, g_grad_clip=1e-3, optimizer=partial(torch.optim.SGD, lr=1.0))
    before = snapshot(model.discriminator)
    trainer(max_steps=1).fit(model, loader(n_batches=1))
    step = torch.cat(
        [(p - b).flatten() for b, p in zip(before, model.discriminator.parameters(), strict=True)]
    )
    assert step.norm().item() <= 1e-3 * 1.0001


def test_schedulers_are_stepped_by_hand_each_epoch():
    model = make_gan(
        scheduler=partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5),
        optimizer=partial(torch.optim.SGD, lr=0.1),
    )
    trainer(max_epochs=2).fit(model, loader(n_batches=2))
    for optimizer in model.trainer.optimizers:
        assert optimizer.param_groups[0]["lr"] == 0.1 * 0.25


def test_separate_discriminator_optimizer():
    model = make_gan(d_optimizer=partial(torch.optim.Adam, lr=4e-4))
    d_opt, g_opt = model.configure_optimizers()
    assert isinstance(d_opt, torch.optim.Adam) and d_opt.param_groups[0]["lr"] == 4e-4
    assert isinstance(g_opt, torch.optim.SGD)


def test_losses_are_logged(tmp_path):
    model = make_gan()
    t = trainer(max_epochs=1, logger=pl.loggers.CSVLogger(tmp_path), log_every_n_steps=1)
    t.fit(model, loader())
    for key in ("train/d_loss_step", "train/g_loss_step", "train/d_real_step", "train/d_fake_step"):
        assert key in t.logged_metrics
    assert 0 <= t.callback_metrics["train/d_real"].item() <= 1
    assert "train/d_grad_norm" not in t.callback_metrics  # measured only when asked for


def step_norm(before: list[torch.Tensor], module: torch.nn.Module) -> float:
    moves = [(p - b).flatten() for b, p in zip(before, module.parameters(), strict=True)]
    return torch.cat(moves).norm().item()


def test_gradient_norms_are_logged_when_asked_and_measured_before_clipping():
    # plain SGD at lr 1 moves the weights by exactly the gradient: the step's norm is its norm
    model = make_gan(
        log_grad_norms=True, g_grad_clip=1e-3, optimizer=partial(torch.optim.SGD, lr=1.0)
    )
    d_before, g_before = snapshot(model.discriminator), snapshot(model.generator)
    t = trainer(max_steps=2)  # one batch: one D update, one G update
    t.fit(model, loader(n_batches=1))
    logged = t.callback_metrics
    assert logged["train/d_grad_norm"].item() == pytest.approx(
        step_norm(d_before, model.discriminator), rel=1e-5
    )
    assert step_norm(g_before, model.generator) <= 1e-3 * 1.0001  # clipped, but the norm
    assert logged["train/g_grad_norm"].item() > 1e-2  # logged is the gradient's own


def test_checkpoint_keeps_fixed_noise_and_run_config(tmp_path):
    model = make_gan()
    model.run_config = {"model": {"latent_dim": 8}}
    t = trainer(max_steps=2, default_root_dir=tmp_path)
    t.fit(model, loader())
    path = tmp_path / "x.ckpt"
    t.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert torch.equal(checkpoint["state_dict"]["fixed_noise"], model.fixed_noise)
    assert checkpoint[CHECKPOINT_KEY]["config"] == {"model": {"latent_dim": 8}}
    assert checkpoint[CHECKPOINT_KEY]["variant"] == "GAN"


def test_grid_images_are_deterministic():
    model = make_gan()
    first = model.grid_images()["samples"][0]
    second = model.grid_images()["samples"][0]
    assert first.shape == (4, *SHAPE)
    assert torch.equal(first, second)
    assert model.generator.training  # mode restored


def test_latent_dim_mismatch_is_an_error():
    with pytest.raises(ValueError, match="latent_dim"):
        make_gan(latent_dim=9)


class CountsOptimizerSteps(pl.Callback):
    def __init__(self) -> None:
        self.calls = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.calls += 1


def test_updates_skip_lightnings_dispatch_only_when_its_hooks_do_nothing():
    """Direct ``loss.backward()`` / ``step()`` when no hook would run: the same weights and
    global_step as through Lightning's dispatch, which a callback's hook still gets."""
    direct, dispatched = make_gan(), make_gan()
    counter = CountsOptimizerSteps()
    trainers = []
    for model, callbacks in ((direct, []), (dispatched, [counter])):
        torch.manual_seed(1)
        trainers.append(trainer(max_epochs=1, callbacks=callbacks))
        trainers[-1].fit(model, loader(n_batches=3))
    assert direct.direct_updates and not dispatched.direct_updates
    assert counter.calls == 6  # D and G on each of the 3 batches
    assert trainers[0].global_step == trainers[1].global_step == 6
    for a, b in zip(direct.parameters(), dispatched.parameters(), strict=True):
        assert torch.equal(a, b)


def test_mixed_precision_and_profilers_keep_lightnings_dispatch():
    from gan_lightning.precision import AdversarialMixedPrecision

    for kwargs in ({"plugins": [AdversarialMixedPrecision("cpu")]}, {"profiler": "simple"}):
        model = make_gan()
        trainer(max_steps=2, **kwargs).fit(model, loader(n_batches=1))
        assert not model.direct_updates


def test_the_gradient_norm_of_half_precision_weights_does_not_overflow():
    weight = torch.nn.Parameter(torch.zeros(4, dtype=torch.float16))
    weight.grad = torch.full((4,), 60000.0, dtype=torch.float16)  # finite; its norm is not in fp16
    assert gradient_norm(torch.optim.SGD([weight], lr=1.0)).item() == 120000.0
