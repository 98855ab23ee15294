"""checkpoints/last.ckpt every N optimizer steps (callbacks.step_checkpoint)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gan_lightning.callbacks.step_checkpoint import StepCheckpoint
from tests.conftest import run_cli


def test_saves_once_at_least_n_steps_have_passed_since_the_last(tmp_path):
    saved = []
    trainer = SimpleNamespace(global_step=6, fast_dev_run=False)
    trainer.save_checkpoint = lambda path, **_: saved.append((trainer.global_step, path))
    callback = StepCheckpoint(str(tmp_path), every_n_train_steps=5)
    callback.on_train_start(trainer, None)  # a run resumed at step 6 counts from there
    for step in range(8, 30, 2):  # one D and one G update per batch
        trainer.global_step = step
        callback.on_train_batch_end(trainer, None, None, None, 0)
    assert [step for step, _ in saved] == [12, 18, 24]
    assert {path for _, path in saved} == {tmp_path / "last.ckpt"}


def test_null_and_fast_dev_run_save_nothing(tmp_path):
    saved = []
    for every, fast in ((None, False), (1, True)):
        trainer = SimpleNamespace(global_step=0, fast_dev_run=fast, save_checkpoint=saved.append)
        callback = StepCheckpoint(str(tmp_path), every_n_train_steps=every)
        callback.on_train_start(trainer, None)
        trainer.global_step = 10
        callback.on_train_batch_end(trainer, None, None, None, 0)
    assert saved == []
    with pytest.raises(ValueError, match="every_n_train_steps"):
        StepCheckpoint(str(tmp_path), every_n_train_steps=0)


def test_a_run_writes_its_mid_epoch_checkpoint(tmp_path):
    run = tmp_path / "run"
    result = run_cli(
        "debug=smoke",  # one epoch of 5 batches: global steps 2, 4, ..., 10
        "callbacks.step_checkpoint.every_n_train_steps=4",
        "callbacks.model_checkpoint=null",  # so the epoch end writes nothing over it
        "callbacks.evaluation=null",
        run_dir=run,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 8  # the second of the saves at 4 and 8, mid-epoch
    assert not list((run / "checkpoints").glob("*.partial"))
