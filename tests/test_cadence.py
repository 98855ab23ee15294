"""The start-up warning for an epoch cadence (grids, checkpoints, evaluation) that a run never
reaches."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from gan_lightning.callbacks.cadence import EpochCadenceCheck, batches_for_steps, final_epoch
from gan_lightning.train import train
from tests.test_toolkit import composed

LOG = "gan_lightning.callbacks.cadence"


@pytest.mark.parametrize("d_steps", [1, 2, 5])
def test_batches_for_steps_is_the_first_batch_count_whose_steps_reach_max_steps(d_steps):
    steps, batches, first = 0, 0, {}
    while steps < 60:  # one D step a batch, one G step every d_steps-th batch
        batches += 1
        steps += 1 + (batches % d_steps == 0)
        for reached in range(1, steps + 1):
            first.setdefault(reached, batches)
    for max_steps in range(1, 60):
        assert batches_for_steps(max_steps, d_steps) == first[max_steps]


def trainer(**kwargs) -> SimpleNamespace:
    defaults = dict(max_epochs=-1, max_steps=-1, num_training_batches=15, current_epoch=0,
                    fast_dev_run=False, is_global_zero=True)  # fmt: skip
    return SimpleNamespace(**{**defaults, **kwargs})


def test_the_final_epoch_comes_from_max_epochs_or_max_steps_whichever_is_sooner():
    assert final_epoch(trainer(max_steps=6000), d_steps=1) == 200  # 3,000 batches of 15
    assert final_epoch(trainer(max_steps=6000, num_training_batches=1), d_steps=1) == 3000
    assert final_epoch(trainer(max_steps=6000, max_epochs=7), d_steps=1) == 7
    assert final_epoch(trainer(max_steps=31), d_steps=1) == 2  # 16 batches: a second epoch
    assert final_epoch(trainer(), d_steps=1) is None  # no end
    assert final_epoch(trainer(max_steps=10, num_training_batches=float("inf")), 1) is None


def warnings_for(caplog, cadences: dict[str, int], d_steps: int = 1, **kwargs) -> list[str]:
    caplog.clear()
    module = SimpleNamespace(training_options=SimpleNamespace(d_steps=d_steps))
    with caplog.at_level(logging.WARNING, logger=LOG):
        EpochCadenceCheck(cadences).on_train_start(trainer(**kwargs), module)
    return [record.getMessage() for record in caplog.records]


def test_only_a_cadence_that_never_comes_due_is_named(caplog):
    # the limited-data experiment's cadence at 1,000 images: 200 epochs of 15 batches
    cadences = {"callbacks.evaluation": 500, "callbacks.sample_grid": 40}
    assert warnings_for(caplog, cadences, max_steps=6000) == [
        "callbacks.evaluation.every_n_epochs=500 never comes due: this run ends after epoch "
        "200 (15 batches an epoch); set callbacks.evaluation.every_n_epochs to at most 200"
    ]
    assert warnings_for(caplog, cadences, max_steps=6000, num_training_batches=1) == []
    assert warnings_for(caplog, {"callbacks.evaluation": 200}, max_steps=6000) == []
    # resumed after epoch 200 of 250: the next multiple of 200 is 400; 50 would come due
    assert warnings_for(caplog, {"callbacks.x": 200}, max_epochs=250, current_epoch=200) == [
        "callbacks.x.every_n_epochs=200 never comes due: this run ends after epoch 250 "
        "(15 batches an epoch); set callbacks.x.every_n_epochs to at most 50"
    ]
    assert warnings_for(caplog, {"callbacks.x": 50}, max_epochs=250, current_epoch=200) == []
    # 3 D steps a G step: 6,000 steps are 4,500 batches, 300 epochs of 15
    assert warnings_for(caplog, {"callbacks.x": 301}, d_steps=3, max_steps=6000) == [
        "callbacks.x.every_n_epochs=301 never comes due: this run ends after epoch 300 "
        "(15 batches an epoch); set callbacks.x.every_n_epochs to at most 300"
    ]
    assert warnings_for(caplog, {"callbacks.x": 300}, d_steps=3, max_steps=6000) == []
    assert warnings_for(caplog, cadences, max_steps=6000, fast_dev_run=True) == []


def test_a_training_run_warns_at_its_start(tmp_path, caplog):
    cfg = composed(
        tmp_path, "trainer.fast_dev_run=false", "trainer.max_steps=8",
        "trainer.limit_train_batches=2", "callbacks.sample_grid.every_n_epochs=3",
        "callbacks.model_checkpoint.every_n_epochs=2",
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger=LOG):
        train(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == LOG]
    assert lines == [
        "callbacks.sample_grid.every_n_epochs=3 never comes due: this run ends after epoch 2 "
        "(2 batches an epoch); set callbacks.sample_grid.every_n_epochs to at most 2"
    ]
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()  # every 2 epochs: it came due
