"""train() in-process: what a sweep or Optuna gets back as the value to optimise."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_module

from gan_lightning.errors import UserError
from gan_lightning.train import train


def composed(tmp_path, *overrides: str):
    with initialize_config_module(config_module="gan_lightning.conf", version_base="1.3"):
        return compose(
            config_name="train",
            overrides=[
                "debug=smoke", "callbacks=none", "logger=csv", f"paths.output_dir={tmp_path}",
                *overrides,
            ],
        )  # fmt: skip


def test_train_returns_the_optimized_metric(tmp_path):
    cfg = composed(tmp_path, "optimized_metric=train/g_loss_epoch")
    value = train(cfg)
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "completed"
    assert value == status["metrics"]["train/g_loss_epoch"]


def test_unknown_optimized_metric_names_the_logged_ones(tmp_path):
    cfg = composed(tmp_path, "optimized_metric=train/nope")
    with pytest.raises(UserError, match=r"optimized_metric='train/nope' was not logged; .*g_loss"):
        train(cfg)
