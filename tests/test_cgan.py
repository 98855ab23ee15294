"""The conditional GAN: labels reach both networks, grids have one row per class."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F

from gan_lightning.losses import NonSaturatingLoss
from gan_lightning.models.cgan import ConditionalGAN
from gan_lightning.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_lightning.nets.mlp import MLPDiscriminator, MLPGenerator
from tests.conftest import quiet_trainer
from tests.training_options import with_training


def make_cgan(num_classes=3, nets="mlp", **kwargs) -> ConditionalGAN:
    torch.manual_seed(0)
    if nets == "mlp":
        g = MLPGenerator(8, (1, 8, 8), hidden_dims=[16], num_classes=num_classes)
        d = MLPDiscriminator((1, 8, 8), hidden_dims=[16], num_classes=num_classes)
    else:
        g = DCGANGenerator(8, image_size=32, channels=1, base_width=4, num_classes=num_classes)
        d = DCGANDiscriminator(image_size=32, channels=1, base_width=4, num_classes=num_classes)
    return ConditionalGAN(
        **with_training(
            dict(
                generator=g,
                discriminator=d,
                loss=NonSaturatingLoss(),
                optimizer=partial(torch.optim.Adam, lr=1e-3),
                num_classes=num_classes,
                latent_dim=8,
                samples_per_class=2,
                **kwargs,
            )
        )
    )


@pytest.mark.parametrize("nets", ["mlp", "dcgan"])
def test_sample_respects_requested_labels(nets):
    model = make_cgan(nets=nets)
    images = model.sample(4, torch.tensor([0, 1, 2, 0]))
    size = 8 if nets == "mlp" else 32
    assert images.shape == (4, 1, size, size)
    # the label changes the output for the same noise
    z = torch.randn(1, 8)
    a = model.generator.eval()(z, F.one_hot(torch.tensor([0]), 3).float())
    b = model.generator(z, F.one_hot(torch.tensor([1]), 3).float())
    assert not torch.allclose(a, b)


def test_grid_has_one_row_per_class_in_label_order():
    model = make_cgan()
    images, per_row = model.grid_images()["samples"]
    assert images.shape[0] == 3 * 2 and per_row == 2
    assert model.fixed_labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_discriminator_sees_the_labels():
    model = make_cgan()
    seen = []
    original = model.discriminator.forward
    model.discriminator.forward = lambda x, c=None: seen.append(c) or original(x, c)
    labels = torch.tensor([2, 0, 1, 1])
    model.discriminator_loss((torch.rand(4, 1, 8, 8) * 2 - 1, labels))
    assert len(seen) == 2 and all(torch.equal(c, F.one_hot(labels, 3).float()) for c in seen)


def test_unlabelled_data_and_mismatched_nets_are_refused():
    g = MLPGenerator(8, (1, 8, 8), hidden_dims=[16])
    d = MLPDiscriminator((1, 8, 8), hidden_dims=[16])
    with pytest.raises(ValueError, match="needs class labels"):
        ConditionalGAN(g, d, NonSaturatingLoss(), partial(torch.optim.Adam), num_classes=None)
    g = MLPGenerator(8, (1, 8, 8), hidden_dims=[16], num_classes=5)
    d = MLPDiscriminator((1, 8, 8), hidden_dims=[16], num_classes=3)
    with pytest.raises(ValueError, match="generator was built for 5 classes"):
        ConditionalGAN(g, d, NonSaturatingLoss(), partial(torch.optim.Adam), num_classes=3)


def test_out_of_range_labels_are_an_error():
    model = make_cgan()
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        model.sample(2, torch.tensor([0, 3]))
    bad = torch.utils.data.TensorDataset(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, -1, 2]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\), got -1\.\.2"):
        quiet_trainer().fit(model, torch.utils.data.DataLoader(bad, batch_size=4))
