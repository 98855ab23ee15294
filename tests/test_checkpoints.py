"""Networks come back from a checkpoint through the stored config, with weights_only loading."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.checkpoints import load_network
from gan_lightning.errors import UserError
from tests.test_adversarial import loader, make_gan, trainer

GENERATOR_CONFIG = {
    "_target_": "gan_lightning.nets.mlp.MLPGenerator",
    "latent_dim": 8,
    "out_shape": [1, 4, 4],
    "hidden_dims": [16],
    "dropout": 0.0,
}


def test_generator_is_rebuilt_with_its_trained_weights(tmp_path):
    model = make_gan()
    model.run_config = {"model": {"generator": GENERATOR_CONFIG, "latent_dim": 8}}
    t = trainer(max_steps=2, default_root_dir=tmp_path)
    t.fit(model, loader())
    path = tmp_path / "model.ckpt"
    t.save_checkpoint(path)
    generator, config = load_network(path, "generator")
    assert not generator.training and config.model.latent_dim == 8
    z = torch.randn(3, 8)
    assert torch.equal(generator(z), model.generator.eval()(z))


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_network(tmp_path / "missing.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a loadable checkpoint"):
        load_network(junk)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(UserError, match="not written by gan-lightning"):
        load_network(foreign)
