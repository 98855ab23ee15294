"""Keys and values renamed in 0.2 keep working for one minor version, with a deprecation line;
config files and 0.1 checkpoints with the old layout are named or upgraded."""

from __future__ import annotations

import logging

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gan_lightning.checkpoints import check_resume, load_checkpoint, load_network
from gan_lightning.errors import UserError
from gan_lightning.nets.dcgan import DCGANGenerator
from gan_lightning.renamed import (
    RENAMED_KEYS,
    RENAMED_VALUES,
    check_no_renamed_keys,
    renamed_value,
    upgrade_config,
    upgrade_overrides,
)
from gan_lightning.training.checkpoint_state import CHECKPOINT_KEY
from gan_lightning.training.options import TrainingOptions
from tests.conftest import REPO_ROOT, run_cli


def test_old_command_line_keys_are_rewritten_with_one_line_each(capsys):
    argv = ["model.d_steps=2", "++model.optimizer.lr=0.1", "data.batch_size=8", "seed=3", "-m"]
    assert upgrade_overrides(argv) == [
        "model.training.d_steps=2",
        "++model.training.optimizer.lr=0.1",
        "data.loader.batch_size=8",
        "seed=3",
        "-m",
    ]
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        "deprecated: model.d_steps is now model.training.d_steps "
        "(the old name stops working in 0.3)"
    )
    assert len(lines) == 3


def test_a_config_file_with_an_old_key_is_one_line_naming_the_new_one():
    cfg = OmegaConf.create({"model": {"optimizer": {"lr": 0.1}}, "data": {}})
    with pytest.raises(UserError, match=r"^config key model.optimizer is now model.training"):
        check_no_renamed_keys(cfg)
    check_no_renamed_keys(OmegaConf.create({"model": {"training": {}}, "data": {}}))


def test_a_0_1_run_config_is_upgraded_to_todays_layout():
    old = {
        "model": {
            "_target_": "gan_lightning.models.gan.GAN",
            "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01},
            "d_steps": 2,
            "on_nonfinite": "skip",
            "generator": {"design": "seed"},
        },
        "data": {"batch_size": 8, "num_workers": 0},
    }
    new = upgrade_config(old)
    assert "optimizer" not in new["model"] and old["model"]["d_steps"] == 2  # a copy
    assert new["model"]["generator"]["design"] == "course"
    assert new["data"]["loader"]["batch_size"] == 8
    options = instantiate(OmegaConf.create(new["model"]["training"]))
    assert isinstance(options, TrainingOptions)
    assert (options.d_steps, options.on_nonfinite) == (2, "skip")
    assert options.optimizer([torch.nn.Parameter(torch.zeros(1))]).defaults["lr"] == 0.01


def test_the_old_design_value_builds_the_same_network_with_a_deprecation_line(caplog):
    with caplog.at_level(logging.WARNING):
        assert renamed_value("model.generator.design", "seed") == "course"
    assert "deprecated: model.generator.design=seed is now model.generator.design=course" in (
        caplog.text
    )
    torch.manual_seed(0)
    old = DCGANGenerator(latent_dim=8, base_width=4, design="seed")
    torch.manual_seed(0)
    new = DCGANGenerator(latent_dim=8, base_width=4, design="course")
    assert old.design == "course"
    for a, b in zip(old.state_dict().values(), new.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def as_written_by_0_1(checkpoint: dict) -> dict:
    """A checkpoint of today in the layout 0.1 wrote: its version and its flat config keys."""
    extras = checkpoint[CHECKPOINT_KEY]
    model, data = extras["config"]["model"], extras["config"]["data"]
    moved = {old.split(".")[-1] for old in RENAMED_KEYS if old.startswith("model.")}
    model.update({k: v for k, v in model.pop("training").items() if k in moved})  # 0.1 had no more
    data.update({k: v for k, v in data.pop("loader").items() if k != "_target_"})
    extras["version"] = "0.1.0"
    return checkpoint


def test_old_keys_still_train_and_0_1_checkpoints_still_load(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "debug=smoke",
        "model.optimizer.lr=0.0005",
        "model.d_steps=2",
        "data.batch_size=16",
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("deprecated: ") == 3
    assert "model.training.optimizer.lr" in result.stderr
    old = tmp_path / "old.ckpt"
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    torch.save(as_written_by_0_1(checkpoint), old)
    generator, config = load_network(old)
    assert config.model.training.d_steps == 2 and config.data.loader.batch_size == 16
    assert generator(torch.zeros(2, config.model.latent_dim)).shape[0] == 2
    check_resume(str(old), load_checkpoint(old), instantiate(config.model))


def old_values(node: object) -> list[str]:
    """`key: value` of every renamed value anywhere in a config tree."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and (key, value) in RENAMED_VALUES:
                found.append(f"{key}: {value}")
            found += old_values(value)
    elif isinstance(node, list):
        for item in node:
            found += old_values(item)
    return found


def test_no_shipped_config_uses_an_old_value():
    """A shipped experiment with an old value would print a deprecation line on every run."""
    assert old_values({"a": [{"design": "seed"}]}) == ["design: seed"]
    found = [
        f"{path.relative_to(REPO_ROOT)}: {hit}"
        for path in sorted((REPO_ROOT / "conf").rglob("*.yaml"))
        for hit in old_values(OmegaConf.to_container(OmegaConf.load(path)))
    ]
    assert not found, "old values in conf/:\n" + "\n".join(found)
