"""fp16 mixed precision under manual optimization: one gradient scaler per side, clipping on
unscaled gradients, scalers in checkpoints. Runs on the CPU (torch's fp16 CPU autocast)."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from omegaconf import OmegaConf
from pytorch_lightning.plugins.precision import MixedPrecision
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.checkpoints import AtomicCheckpointIO
from gan_lightning.errors import TrainingDiverged
from gan_lightning.losses import NonSaturatingLoss
from gan_lightning.models.gan import GAN
from gan_lightning.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_lightning.precision import AdversarialMixedPrecision, precision_arguments
from gan_lightning.training import updates
from tests.conftest import quiet_trainer, run_cli
from tests.training_options import with_training


def images(n: int = 16) -> DataLoader:
    return DataLoader(TensorDataset(torch.rand(n, 1, 32, 32) * 2 - 1), batch_size=4)


class LoudDiscriminatorGAN(GAN):
    """D's loss x 1e4: its scaled backward overflows fp16 at any scale above a few, G's not."""

    loudness = 1e4

    def discriminator_loss(self, batch):
        loss, logs = super().discriminator_loss(batch)
        return loss * self.loudness, logs


class DeafeningDiscriminatorGAN(LoudDiscriminatorGAN):
    """A finite loss whose gradients overflow fp16 at every scale: NaN/inf forever."""

    loudness = 1e30


class NormRecordingGAN(GAN):
    """Records the gradient norm each optimizer is about to step with."""

    def on_fit_start(self):
        self.norms = []

    def on_before_optimizer_step(self, optimizer):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


def tiny_gan(cls=GAN, **kwargs) -> GAN:
    torch.manual_seed(0)
    return cls(
        **with_training(
            dict(
                generator=DCGANGenerator(latent_dim=16, channels=1, image_size=32, base_width=8),
                discriminator=DCGANDiscriminator(channels=1, image_size=32, base_width=8),
                loss=NonSaturatingLoss(),
                optimizer=partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999)),
                latent_dim=16,
                num_grid_samples=4,
                **kwargs,
            )
        )
    )


def test_each_side_has_its_own_scaler():
    plugin = AdversarialMixedPrecision("cpu")
    model = tiny_gan(LoudDiscriminatorGAN)
    quiet_trainer(max_epochs=1, plugins=[plugin]).fit(model, images(32))
    d_scale = plugin.scalers["discriminator"].get_scale()
    g_scale = plugin.scalers["generator"].get_scale()
    # D overflowed and backed off on each of its 8 steps; G's scale did not follow it down
    # (one shared scaler, Lightning's, would leave both at D's)
    assert d_scale <= 65536 / 2**8
    assert g_scale >= 16 * d_scale


def test_clipping_sees_unscaled_gradients():
    plugin = AdversarialMixedPrecision("cpu")
    model = tiny_gan(NormRecordingGAN, d_grad_clip=1e-3, g_grad_clip=1e-3)
    quiet_trainer(max_epochs=1, plugins=[plugin]).fit(model, images())
    finite = [n for n in model.norms if n == n and n != float("inf")]
    assert finite, model.norms
    # clipped to 1e-3 in true units; clipping scaled gradients would leave ~1e-3 / 65536
    assert all(0.5e-3 < n <= 1.01e-3 for n in finite), finite


def test_logged_gradient_norms_are_unscaled(monkeypatch):
    """``log_grad_norms`` under the scaler: the norm the optimizer steps with, not x 65536."""
    measured = []

    def recording_norm(optimizer):
        measured.append(float(measure(optimizer)))
        return torch.tensor(measured[-1])

    measure = updates.gradient_norm
    monkeypatch.setattr(updates, "gradient_norm", recording_norm)
    plugin = AdversarialMixedPrecision("cpu")
    model = tiny_gan(NormRecordingGAN, log_grad_norms=True)
    quiet_trainer(max_epochs=1, plugins=[plugin]).fit(model, images(64))
    assert len(measured) == len(model.norms) == 32  # 16 batches, a D and a G update each
    # the first scales overflow fp16 on the CPU (NaN norms, skipped steps); then finite
    finite = [(m, n) for m, n in zip(measured, model.norms, strict=True) if math.isfinite(n)]
    assert len(finite) >= 8, model.norms
    assert all(m == pytest.approx(n, rel=1e-4) for m, n in finite), finite


def test_scalers_are_saved_and_restored(tmp_path):
    plugin = AdversarialMixedPrecision("cpu")
    trainer = quiet_trainer(max_epochs=1, plugins=[plugin], enable_checkpointing=False)
    trainer.fit(tiny_gan(LoudDiscriminatorGAN), images())
    path = tmp_path / "amp.ckpt"
    trainer.save_checkpoint(path)
    saved = torch.load(path, weights_only=True)["AdversarialMixedPrecision"]
    assert set(saved) == {"discriminator", "generator"}
    restored = AdversarialMixedPrecision("cpu")
    restored.load_state_dict(saved)
    for side in ("discriminator", "generator"):
        assert restored.scalers[side].get_scale() == plugin.scalers[side].get_scale()


def test_gradients_that_stay_non_finite_stop_the_run_as_diverged():
    plugin = AdversarialMixedPrecision("cpu")
    model = tiny_gan(DeafeningDiscriminatorGAN)
    with pytest.raises(TrainingDiverged, match="d_loss update's gradients stayed inf/NaN"):
        quiet_trainer(max_epochs=1, plugins=[plugin]).fit(model, images(160))
    assert model.guard.skipped_updates >= 30  # every D step was skipped until the scale collapsed


def test_skip_mode_counts_the_skipped_steps_and_trains_on():
    plugin = AdversarialMixedPrecision("cpu")
    model = tiny_gan(DeafeningDiscriminatorGAN, on_nonfinite="skip")
    generator_before = [p.clone() for p in model.generator.parameters()]
    quiet_trainer(max_epochs=1, plugins=[plugin]).fit(model, images(160))
    assert model.guard.skipped_updates >= 40  # the 40 D steps; G's early overflows may add some
    moved = any(
        not torch.equal(a, b)
        for a, b in zip(generator_before, model.generator.parameters(), strict=True)
    )
    assert moved


def test_a_checkpoint_of_lightnings_fp16_plugin_resumes_with_its_scale(tmp_path):
    old = MixedPrecision("16-mixed", "cpu")
    trainer = quiet_trainer(max_epochs=1, plugins=[old])
    trainer.fit(tiny_gan(LoudDiscriminatorGAN), images())
    path = tmp_path / "lightning_amp.ckpt"
    trainer.save_checkpoint(path)
    saved_scale = old.scaler.get_scale()
    assert saved_scale < 65536  # D's overflows lowered the one shared scale
    plugin = AdversarialMixedPrecision("cpu")
    resumed = quiet_trainer(max_epochs=1, plugins=[plugin])  # restores, then has nothing to do
    resumed.fit(tiny_gan(LoudDiscriminatorGAN), images(), ckpt_path=path, weights_only=True)
    assert {n: s.get_scale() for n, s in plugin.scalers.items()} == {
        "discriminator": saved_scale,
        "generator": saved_scale,
    }


def test_only_fp16_gets_the_plugin():
    config = OmegaConf.create(
        {
            "precision": "16-mixed",
            "accelerator": "cpu",
            "plugins": [{"_target_": "gan_lightning.checkpoints.AtomicCheckpointIO"}],
        }
    )
    arguments = precision_arguments(config)
    assert arguments["precision"] is None
    kinds = [type(p) for p in arguments["plugins"]]
    assert kinds == [AtomicCheckpointIO, AdversarialMixedPrecision]
    assert arguments["plugins"][1].device == "cpu"
    for other in ("bf16-mixed", "32-true"):
        assert precision_arguments(OmegaConf.create({"precision": other})) == {}


def test_command_line_fp16_run_checkpoints_both_scalers(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "model=dcgan",
        "data.image_size=32",
        "model.generator.base_width=8",
        "model.discriminator.base_width=8",
        "trainer.precision=16-mixed",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "model.training.d_grad_clip=1.0",
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert set(checkpoint["AdversarialMixedPrecision"]) == {"discriminator", "generator"}


def test_an_r1_penalty_that_overflows_fp16_is_skipped_by_the_scaler_not_taken_for_divergence():
    """R1 at gamma 1e9: its gradient overflows fp16 at the first scales, so D's scaler backs
    off and skips those updates; D's adversarial loss stays finite, so the run goes on.
    (Without R1 both scales end at 4096 in this run: fp16 on the CPU overflows early.)"""
    plugin = AdversarialMixedPrecision("cpu")
    model = tiny_gan(r1_gamma=1e9)
    quiet_trainer(max_epochs=1, plugins=[plugin]).fit(model, images(32))
    d_scale = plugin.scalers["discriminator"].get_scale()
    assert d_scale <= 256
    assert plugin.scalers["generator"].get_scale() >= 16 * d_scale
    assert all(torch.isfinite(p).all() for p in model.parameters())
