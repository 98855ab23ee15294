"""``-m`` sweeps and Optuna searches through the real CLI, and the sweep summary."""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml

from gan_lightning.sweeps import collect_runs, write_summary
from tests.conftest import run_cli, run_sweep

QUICK = ("debug=smoke", "trainer.limit_train_batches=2", "callbacks.evaluation=null")


def read_summary(sweep_dir):
    with open(sweep_dir / "summary.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_sweep_gives_each_run_its_folder_and_a_summary(tmp_path):
    result, sweep_dir = run_sweep(tmp_path, "model.training.optimizer.lr=1e-4,2e-4", *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(sweep_dir)
    assert [row["run"] for row in rows] == ["0", "1"]
    assert [row["status"] for row in rows] == ["completed", "completed"]
    assert "model.training.optimizer.lr=0.0001" in rows[0]["overrides"]
    assert "model.training.optimizer.lr=0.0002" in rows[1]["overrides"]
    for row in rows:
        assert math.isfinite(float(row["train/g_loss_epoch"]))
        run = sweep_dir / row["run"]
        assert (run / "checkpoints" / "last.ckpt").is_file()
        assert (run / ".hydra" / "config.yaml").is_file()
        saved = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        assert saved["model"]["training"]["optimizer"]["lr"] == float(
            row["overrides"].split("lr=")[1].split()[0]
        )
    assert "sweep: 2 of 2 runs completed" in result.stdout
    assert not (tmp_path / "unused").exists()  # a sweep writes under its sweep folder only


def test_a_failing_run_does_not_stop_the_others(tmp_path):
    result, sweep_dir = run_sweep(
        tmp_path,
        "data.loader.batch_size=0,16",  # run 0: a bad value (our error); run 1 fine
        "model.training.optimizer.lr=-1,2e-4",  # lr=-1: torch's ValueError, named at start-up
        *QUICK,
    )
    assert result.returncode == 1  # the sweep says something failed, after every run ran
    rows = {
        row["overrides"].split(" ")[0] + " " + row["overrides"].split(" ")[1]: row
        for row in read_summary(sweep_dir)
    }
    assert len(rows) == 4
    good = rows["data.loader.batch_size=16 model.training.optimizer.lr=0.0002"]
    assert good["status"] == "completed" and math.isfinite(float(good["train/d_loss_epoch"]))
    bad_batch = rows["data.loader.batch_size=0 model.training.optimizer.lr=-1"]
    bad_lr = rows["data.loader.batch_size=16 model.training.optimizer.lr=-1"]
    assert "batch_size: must be positive" in bad_batch["error"]
    assert "Invalid learning rate" in bad_lr["error"]
    assert [row["status"] for row in rows.values()].count("failed") == 3
    assert "sweep: 1 of 4 runs completed" in result.stdout
    assert json.loads((sweep_dir / "summary.json").read_text())[0]["status"] == "failed"


def test_optuna_search_runs_trials_and_reports_the_best(tmp_path):
    """From a fresh folder with the search's own metric (eval/fcd): the first trial trains the
    digit classifier it needs and caches it for the second."""
    sweep_dir = tmp_path / "optuna"
    result = run_cli(
        "hparams_search=optuna",  # its config switches to multirun: no -m needed
        "hydra.sweeper.n_trials=2",
        "debug=smoke",
        "trainer.limit_train_batches=2",
        "callbacks.evaluation.num_samples=1000",
        "metrics.train_classifier=true",  # the default (run_cli turns it off elsewhere)
        f"hydra.sweep.dir={sweep_dir}",
        run_dir=tmp_path / "unused",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "data" / "feature_nets" / "digits_8px_1ch.pt").is_file()
    logs = [(sweep_dir / str(trial) / "train.log").read_text() for trial in (0, 1)]
    assert ["training one on digits" in log for log in logs] == [True, False]  # then cached
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {
        "model.training.optimizer.lr",
        "model.training.d_steps",
        "data.loader.batch_size",
    }
    rows = read_summary(sweep_dir)
    assert len(rows) == 2 and all(row["status"] == "completed" for row in rows)
    values = [float(row["eval/fcd"]) for row in rows]
    assert best["best_value"] == min(values)  # minimize: the best trial is the lowest one
    lrs = {row["overrides"].split("model.training.optimizer.lr=")[1].split()[0] for row in rows}
    assert len(lrs) == 2  # the sampler proposed a new value for the second trial


def test_failed_optuna_trials_are_recorded_and_the_search_goes_on(tmp_path):
    sweep_dir = tmp_path / "optuna"
    result = run_cli(
        "hparams_search=optuna",
        "optimized_metric=eval/nothing",  # every trial fails: the metric is never logged
        "hydra.sweeper.n_trials=2",
        *QUICK,
        f"hydra.sweep.dir={sweep_dir}",
        run_dir=tmp_path / "unused",
    )
    assert result.returncode == 1  # no trial completed: there is no best one
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no trial of the search completed (2 ran); the first: run 0")
    assert "'eval/nothing' was not logged" in last and "summary.csv" in last
    rows = read_summary(sweep_dir)  # written after each trial, so it survives the end
    assert [row["run"] for row in rows] == ["0", "1"]  # the second trial ran after the first failed
    assert all(row["status"] == "failed" and "eval/nothing" in row["error"] for row in rows)


def test_a_missing_optimized_metric_fails_the_trial_with_its_name(tmp_path):
    result, sweep_dir = run_sweep(
        tmp_path,
        "seed=1",
        "optimized_metric=eval/nothing",
        *QUICK,
    )
    assert result.returncode == 1
    (row,) = read_summary(sweep_dir)
    assert row["status"] == "failed" and "'eval/nothing' was not logged" in row["error"]
    assert "the evaluation callback is off (callbacks.evaluation=null)" in row["error"]


def test_a_metric_the_evaluation_never_logged_names_its_schedule(tmp_path):
    result, sweep_dir = run_sweep(
        tmp_path,
        "optimized_metric=eval/fcd",
        "debug=smoke",
        "trainer.limit_train_batches=2",
        "callbacks.evaluation.every_n_epochs=2",  # due after epoch 2; the run stops after 1
    )
    assert result.returncode == 1
    (row,) = read_summary(sweep_dir)
    assert "every 2 epoch(s) (callbacks.evaluation.every_n_epochs=2)" in row["error"]
    assert "ended at step 4" in row["error"]


def test_local_sweeps_refuse_ddp_processes_started_by_re_running_the_command(tmp_path):
    result, sweep_dir = run_sweep(
        tmp_path,
        "seed=1",
        "trainer=ddp_cpu",
        "debug=fast_dev_run",
    )
    assert result.returncode == 1
    (row,) = read_summary(sweep_dir)
    assert "start_method=spawn" in row["error"]


@pytest.mark.slow
def test_local_sweeps_run_ddp_with_spawned_processes(tmp_path):
    result, sweep_dir = run_sweep(
        tmp_path,
        "seed=1,2",
        "trainer=ddp_cpu",
        "+trainer.strategy.start_method=spawn",
        *QUICK,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(sweep_dir)
    assert [row["status"] for row in rows] == ["completed", "completed"]
    assert all((sweep_dir / row["run"] / "checkpoints" / "last.ckpt").is_file() for row in rows)


def test_summary_marks_runs_that_never_reported(tmp_path):
    (tmp_path / "0" / ".hydra").mkdir(parents=True)
    (tmp_path / "0" / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
    (tmp_path / "10" / ".hydra").mkdir(parents=True)
    (tmp_path / "10" / ".hydra" / "overrides.yaml").write_text("- seed=3\n")
    (tmp_path / "10" / "status.json").write_text('{"status": "completed", "metrics": {"m": 1.5}}')
    (tmp_path / "2" / ".hydra").mkdir(parents=True)
    (tmp_path / "2" / ".hydra" / "overrides.yaml").write_text("- seed=2\n")
    (tmp_path / "2" / "status.json").write_text('{"status": "running"}')
    rows = collect_runs(tmp_path)
    assert [row["run"] for row in rows] == ["0", "2", "10"]  # job order, not text order
    assert [row["status"] for row in rows] == ["no status", "running", "completed"]
    write_summary(tmp_path, rows)
    written = read_summary(tmp_path)
    assert written[2]["m"] == "1.5" and written[0]["m"] == ""


def test_step_and_progress_bar_metrics_can_be_optimized(tmp_path):
    """The step windows bypass self.log (speed) but still reach the objective and the summary."""
    result, sweep_dir = run_sweep(
        tmp_path,
        "optimized_metric=train/d_loss_step,g_loss",
        *QUICK,
        "trainer.log_every_n_steps=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(sweep_dir)
    assert [row["status"] for row in rows] == ["completed", "completed"]
    for row in rows:
        assert float(row["train/d_loss_step"]) > 0 and float(row["g_loss"]) > 0
