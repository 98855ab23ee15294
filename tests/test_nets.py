import pytest
import torch

from gan_lightning.latent import sample_latent
from gan_lightning.nets.mlp import MLPDiscriminator, MLPGenerator


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
