"""The toolkit's short names (``model.r1_gamma``, ``model/augment=ada``) work on the command line
and mean the full ``model.training`` keys; a config file using one is one line naming the full."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from gan_lightning.aliases import SHORT_KEYS, check_no_short_keys, expand_short_keys
from gan_lightning.config_check import check_config
from gan_lightning.errors import UserError
from tests.conftest import run_cli


def test_short_names_are_written_out_and_everything_else_is_kept():
    argv = [
        "model.r1_gamma=3",
        "++model.ema.decay=0.999",
        "model/augment=diffaugment",
        "model/augment@model.training.augment=ada",
        "model.augment.policy=translation",
        "~model.gp_weight",
        "model.gp_one_sided=true",
        "model.r1_every=16",
        "model.r1_rampup=500",
        "model.discriminator.spectral_norm=true",
        "model.training.d_steps=2",
        "model.emax=1",
        "-m",
    ]
    assert expand_short_keys(argv) == [
        "model.training.r1_gamma=3",
        "++model.training.ema.decay=0.999",
        "model/training/augment=diffaugment",
        "model/training/augment@model.training.augment=ada",
        "model.training.augment.policy=translation",
        "~model.training.gp_weight",
        "model.training.gp_one_sided=true",
        "model.training.r1_every=16",
        "model.training.r1_rampup=500",
        "model.discriminator.spectral_norm=true",
        "model.training.d_steps=2",
        "model.emax=1",
        "-m",
    ]


def test_a_config_file_with_a_short_name_is_one_line_naming_the_full_one():
    cfg = OmegaConf.create({"model": {"r1_gamma": 3, "training": {}}, "data": {}})
    with pytest.raises(
        UserError, match=r"^config key model.r1_gamma: write model.training.r1_gamma in a config"
    ):
        check_config(cfg)
    check_no_short_keys(OmegaConf.create({"model": {"training": {"r1_gamma": 3}}}))


def test_the_command_line_composes_the_short_names_into_the_shared_step(tmp_path):
    result = run_cli(
        "model=dcgan",
        "data=mnist",
        "model.r1_gamma=3",
        "model.ema.decay=0.999",
        "model/augment=diffaugment",
        "model.augment.policy=translation",
        "--cfg",
        "job",
        run_dir=tmp_path / "run",
    )
    assert result.returncode == 0, result.stderr
    training = yaml.safe_load(result.stdout)["model"]["training"]
    assert training["r1_gamma"] == 3
    assert training["ema"]["decay"] == 0.999
    assert training["augment"]["_target_"] == "gan_lightning.augment.DiffAugment"
    assert training["augment"]["policy"] == "translation"


@pytest.mark.parametrize("page", ["README.md", "docs/pages/toolkit.md"])
def test_the_docs_list_every_short_name(page):
    text = (Path(__file__).resolve().parents[1] / page).read_text()
    missing = [key for key in SHORT_KEYS if f"`{key}" not in text]
    assert not missing, f"{page} does not list {missing}"


@pytest.mark.parametrize("page", ["docs/pages/add-your-own-gan.md", "docs/pages/toolkit.md"])
def test_the_docs_reserve_every_short_name_for_constructor_arguments(page):
    text = (Path(__file__).resolve().parents[1] / page).read_text()
    names = [key.removeprefix("model.") for key in SHORT_KEYS]
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"{page} does not reserve {missing}"
