"""2-D mixtures, their mode metrics, packing and minibatch std."""

from __future__ import annotations

import math

import pytest
import torch

from gan_lightning.data.loading import LoaderOptions
from gan_lightning.data.toy2d import GaussianMixtureDataModule, mixture_centers, sample_mixture
from gan_lightning.metrics.modes import mode_statistics
from gan_lightning.nets.dcgan import DCGANDiscriminator
from gan_lightning.nets.layers import MinibatchStdDev, pack_samples
from gan_lightning.nets.mlp import MLPDiscriminator
from tests.conftest import first_batch


def test_ring_angles_are_multiples_of_2pi_over_8():
    centers = mixture_centers("ring")
    angles = torch.atan2(centers[:, 1], centers[:, 0]) % (2 * math.pi)
    expected = torch.arange(8) * (2 * math.pi / 8)
    assert torch.allclose(angles.sort().values, expected, atol=1e-6)
    assert torch.allclose(centers.norm(dim=1), torch.ones(8), atol=1e-6)


def test_grid_centres():
    centers = mixture_centers("grid")
    assert centers.shape == (25, 2)
    assert sorted(set(centers[:, 0].tolist())) == [-4, -2, 0, 2, 4]


def test_data_module_batches_points_and_uses_papers_std():
    dm = GaussianMixtureDataModule("grid", num_samples=2000, loader=LoaderOptions(batch_size=100))
    points, modes = first_batch(dm)
    assert points.shape == (100, 2) and modes.shape == (100,)
    assert dm.std == 0.05
    offsets = dm.train_set.points - dm.centers[dm.train_set.modes]
    assert offsets.std().item() == pytest.approx(0.05, rel=0.1)


def test_unknown_mixture_is_refused():
    with pytest.raises(ValueError, match="ring, grid"):
        mixture_centers("spiral")


def test_real_samples_cover_every_mode_with_high_quality():
    centers = mixture_centers("grid")
    points, _ = sample_mixture(centers, 0.05, 2500, torch.Generator().manual_seed(0))
    stats = mode_statistics(points, centers, 0.05)
    assert stats["modes"] == 25
    assert stats["high_quality"] > 0.98  # 3 std in 2-D holds 98.9% of the mass
    assert stats["reverse_kl"] < 0.02


def test_collapsed_samples_score_one_mode_and_log_k_reverse_kl():
    centers = mixture_centers("ring")
    points = centers[3].repeat(2500, 1)
    stats = mode_statistics(points, centers, 0.01)
    assert stats["modes"] == 1 and stats["high_quality"] == 1.0
    assert stats["reverse_kl"] == pytest.approx(math.log(8))


def test_spread_out_noise_is_low_quality():
    centers = mixture_centers("ring")
    points = torch.rand(2500, 2, generator=torch.Generator().manual_seed(0)) * 4 - 2
    stats = mode_statistics(points, centers, 0.01)
    assert stats["high_quality"] < 0.01


def test_no_high_quality_sample_gives_nan_reverse_kl():
    stats = mode_statistics(torch.full((10, 2), 100.0), mixture_centers("ring"), 0.01)
    assert stats["modes"] == 0 and math.isnan(stats["reverse_kl"])


def test_packing_concatenates_consecutive_samples():
    x = torch.arange(12.0).view(6, 2)
    packed = pack_samples(x, 3)
    assert packed.tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    images = torch.randn(8, 3, 4, 4)
    assert torch.equal(pack_samples(images, 2)[1, 3:], images[3])
    assert pack_samples(torch.randn(7, 2), 2).shape == (3, 4)  # remainder dropped


def test_packed_discriminators_take_packs():
    mlp = MLPDiscriminator([2], [16], dropout=0.0, pack=4)
    assert mlp(pack_samples(torch.randn(40, 2), 4)).shape == (10,)
    conv = DCGANDiscriminator(32, 3, base_width=8, num_classes=10, pack=2, minibatch_std=True)
    labels = torch.eye(10)[torch.arange(8) % 10]
    assert conv(pack_samples(torch.randn(8, 3, 32, 32), 2), pack_samples(labels, 2)).shape == (4,)


def test_minibatch_std_appends_the_batch_spread():
    layer = MinibatchStdDev()
    same = torch.ones(5, 3)
    assert layer(same)[:, -1].abs().max() < 1e-3
    varied = torch.randn(5, 3, 4, 4)
    out = layer(varied)
    assert out.shape == (5, 4, 4, 4) and out[:, -1].min() > 0.1


def test_model_pack_must_match_the_discriminator():
    from gan_lightning.losses import NonSaturatingLoss
    from gan_lightning.models.gan2d import PointGAN
    from gan_lightning.nets.mlp import MLPGenerator
    from gan_lightning.training.options import TrainingOptions

    generator = MLPGenerator(2, [2], [8], dropout=0.0, output_activation="none")
    discriminator = MLPDiscriminator([2], [8], pack=2)
    with pytest.raises(ValueError, match=r"model.pack=1 but the discriminator takes packs of 2"):
        options = TrainingOptions(torch.optim.Adam)
        PointGAN(generator, discriminator, NonSaturatingLoss(), options, latent_dim=2)
