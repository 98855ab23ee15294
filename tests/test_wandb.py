"""``logger=wandb`` and ``logger=many`` offline: what lands in the run folder, and no API key.

W&B writes an offline run as a record log (``run-<id>.wandb``: LevelDB-style blocks of
protobuf ``Record`` messages); ``read_wandb_records`` reads it back, so the tests check the
history, config and artifact records themselves rather than the console output.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_sweep

pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

SECRET = "secret-key-" + "0123456789abcdef" * 3  # W&B keys are 40+ characters
QUICK = ("debug=smoke", "trainer.limit_train_batches=3", "callbacks.evaluation=null")
BLOCK = 32768  # the record log's block size; a 7-byte file header precedes the first record


def read_wandb_records(path: Path) -> list:
    raw, position, pending, records = path.read_bytes(), 7, b"", []
    while position + 7 <= len(raw):
        left = BLOCK - position % BLOCK
        if left < 7:  # block trailer: too short for a record header
            position += left
            continue
        _crc, length, kind = struct.unpack("<IHB", raw[position : position + 7])
        if kind == 0:  # zero padding to the end of the block
            position += left
            continue
        data = raw[position + 7 : position + 7 + length]
        position += 7 + length
        pending = data if kind in (1, 2) else pending + data  # full/first vs middle/last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def offline_env(tmp_path: Path, monkeypatch) -> None:
    """Keep W&B's caches and settings in the test's folder; no network, a key in the env."""
    for name in ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb_home" / name.lower()))
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    monkeypatch.setenv("WANDB_SILENT", "true")


def summarise(run_dir: Path) -> dict:
    (log,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    history, config, artifacts = set(), set(), []
    for record in read_wandb_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history |= {item.key or "/".join(item.nested_key) for item in record.history.item}
        elif kind == "config":
            config |= {item.key or "/".join(item.nested_key) for item in record.config.update}
        elif kind == "artifact":
            artifacts.append(record.artifact.type)
    return {"history": history, "config": config, "artifacts": artifacts}


def test_offline_wandb_run_holds_history_config_and_images(tmp_path, monkeypatch):
    offline_env(tmp_path, monkeypatch)
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline through the config key alone
    monkeypatch.delenv("WANDB_API_KEY")  # and no key at all
    run_dir = tmp_path / "run"
    result = run_cli("logger=wandb", "logger.wandb.offline=true", *QUICK, run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    run = summarise(run_dir)
    assert {"train/d_loss_step", "train/g_loss_epoch", "trainer/global_step"} <= run["history"]
    assert "samples/samples/filenames" in run["history"]  # the sample grid, as an image
    assert {"model", "data", "trainer", "seed"} <= run["config"]  # the resolved run config
    assert run["artifacts"] == []  # log_model is off by default
    (image,) = run_dir.glob("wandb/offline-run-*/files/media/images/samples/*.png")
    assert image.stat().st_size > 0
    assert not (run_dir / "csv").exists()  # logger=wandb alone


def test_logger_many_writes_every_format_and_never_the_key(tmp_path, monkeypatch):
    offline_env(tmp_path, monkeypatch)
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = tmp_path / "run"
    result = run_cli("logger=many", "logger.wandb.log_model=true", *QUICK, run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "csv" / "metrics.csv").is_file()
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert "model" in (run_dir / "csv" / "hparams.yaml").read_text()  # the config, for CSV too
    run = summarise(run_dir)
    assert run["artifacts"] == ["model"]  # the last checkpoint
    assert "train/d_loss_epoch" in run["history"]
    assert SECRET not in result.stdout + result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_each_run_of_a_sweep_gets_its_own_wandb_run(tmp_path, monkeypatch):
    offline_env(tmp_path, monkeypatch)
    monkeypatch.setenv("WANDB_MODE", "offline")
    result, sweep_dir = run_sweep(tmp_path, "logger=wandb", "seed=1,2", *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    logs = [list((sweep_dir / job).glob("wandb/offline-run-*/run-*.wandb")) for job in "01"]
    assert [len(found) for found in logs] == [1, 1]  # not both runs inside the first W&B run
    assert logs[0][0].name != logs[1][0].name
    assert "train/d_loss_step" in summarise(sweep_dir / "1")["history"]
