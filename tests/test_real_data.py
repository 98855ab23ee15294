"""Short training runs on the real samples in ../shared/data (slow; skipped when absent)."""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def finished_metrics(run_dir):
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "completed"
    return status["metrics"]


def test_gan_trains_on_real_mnist(shared_data, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "data=mnist", f"paths.data_dir={shared_data}", "trainer.max_steps=400", run_dir=run_dir
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = finished_metrics(run_dir)
    assert math.isfinite(metrics["train/d_loss_epoch"]) and math.isfinite(metrics["train/g_loss"])
    assert (run_dir / "checkpoints" / "last.ckpt").exists()


def test_cgan_trains_on_real_mnist(shared_data, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "experiment=mnist_cgan", f"paths.data_dir={shared_data}", "trainer.max_steps=300",
        run_dir=run_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    finished_metrics(run_dir)


def test_dcgan_trains_on_real_celeba_faces(shared_data, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "model=dcgan", "data=celeba", f"data.data_dir={shared_data / 'celeba_89x109'}",
        "data.crop_size=89", "data.image_size=32", "data.loader.batch_size=32",
        "data.loader.num_workers=1", "trainer.max_steps=300", run_dir=run_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = finished_metrics(run_dir)
    assert math.isfinite(metrics["train/g_loss"])
    assert (run_dir / "samples" / "epoch_000.png").exists()


def test_cyclegan_halves_the_cycle_loss_on_real_unpaired_digits(shared_data, tmp_path):
    """Issue 5's bar at CPU size: 150 batches at 64x64 (narrower nets than the experiment).
    The shared set's epoch is 125 batches of 4, so 150 are two epochs of 75."""
    import csv

    run_dir = tmp_path / "run"
    result = run_cli(
        "experiment=mnist2negative_cyclegan", f"paths.data_dir={shared_data}",
        "model.generator_ab.base_width=32", "model.discriminator_a.base_width=32",
        "trainer.max_epochs=2", "trainer.limit_train_batches=75", "callbacks.evaluation=null",
        run_dir=run_dir, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    with open(run_dir / "csv" / "metrics.csv") as handle:
        curve = [
            float(r["train/cycle_loss_step"])
            for r in csv.DictReader(handle)
            if r.get("train/cycle_loss_step")
        ]
    assert len(curve) >= 10
    assert curve[-1] < 0.5 * curve[0], curve
