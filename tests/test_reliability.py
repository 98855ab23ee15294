"""Exact resume, interruption, divergence, atomic and safe checkpoints."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

import gan_lightning
from gan_lightning.checkpoints import AtomicCheckpointIO, load_checkpoint, resolve_resume
from gan_lightning.errors import TrainingDiverged, UserError
from gan_lightning.models.adversarial import CHECKPOINT_KEY
from gan_lightning.rng import (
    SEED_VARIABLE,
    choose_seed,
    collect_rng_state,
    restore_rng_state,
    seed_for_rank,
)
from tests.conftest import TINY_CYCLEGAN, quiet_trainer, run_cli, write_unpaired
from tests.test_adversarial import SHAPE, make_gan

QUICK = (
    "trainer.limit_train_batches=5",
    "trainer.log_every_n_steps=1",
    "callbacks.evaluation=null",
)
CYCLEGAN = (
    *TINY_CYCLEGAN,
    "model.pool_size=3",
    "model.lambda_identity=0.5",
)


LOSSES = ("train/d_loss_step", "train/g_loss_step")


def step_rows(run_dir: Path, keys: tuple[str, ...] = LOSSES) -> list[tuple]:
    """(step, *values of keys) for every step row, in the order of the run's CSV."""
    (path,) = run_dir.rglob("metrics.csv")
    with open(path) as handle:
        return [
            (int(row["step"]), *(row[k] for k in keys))
            for row in csv.DictReader(handle)
            if row.get(keys[0])
        ]


def step_losses(run_dir: Path, keys: tuple[str, ...] = LOSSES) -> dict[int, tuple[str, ...]]:
    """step -> values of keys, as logged."""
    return {step: tuple(values) for step, *values in step_rows(run_dir, keys)}


def final_state(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def compare_with_uninterrupted(straight: Path, first: Path, resumed: Path) -> None:
    """The interrupted run logged the uninterrupted run's losses up to the stop; the resumed
    copy of its folder holds the uninterrupted run's whole log, each step once, and its final
    weights are bitwise equal."""
    whole, before = step_losses(straight), step_losses(first)
    assert before and len(before) < len(whole)
    assert {s: whole[s] for s in before} == before
    assert step_rows(resumed) == step_rows(straight)
    a, b = final_state(straight), final_state(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def run_and_resume(tmp_path: Path, extra, first_args, resume_args) -> tuple[Path, Path]:
    """The first run stops; a copy of its folder resumes with ``ckpt_path=last``, as a
    requeued job does in its own folder."""
    first, resumed = tmp_path / "first", tmp_path / "resumed"
    result = run_cli(*extra, "seed=5", *first_args, run_dir=first)
    assert result.returncode == 0, result.stderr[-3000:]
    shutil.copytree(first, resumed)
    result = run_cli(*extra, "seed=5", *resume_args, "ckpt_path=last", run_dir=resumed)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        f"resuming from {resumed / 'checkpoints' / 'last.ckpt'}"
        in (resumed / "train.log").read_text()
    )
    return first, resumed


@pytest.fixture(scope="module")
def uninterrupted_gan(tmp_path_factory) -> Path:
    """The default GAN for 4 epochs of 5 batches (40 optimizer steps), never stopped."""
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = run_cli(*QUICK, "seed=5", "trainer.max_epochs=4", run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


STEP_EVERY_10 = (
    "callbacks.model_checkpoint=null",
    "callbacks.step_checkpoint.every_n_train_steps=10",
)
STOPS = {
    # the checkpoint at the end of epoch 2, resumed by epochs
    "epoch-end": (("trainer.max_epochs=2",), ("trainer.max_epochs=4",)),
    # max_steps cuts epoch 2 after 2 of its batches; resumed by steps, and by epochs (Lightning
    # counts a cut epoch as done: the rest of it must not be skipped)
    "mid-epoch": (("trainer.max_steps=14",), ("trainer.max_steps=40",)),
    "mid-epoch-then-epochs": (("trainer.max_steps=14",), ("trainer.max_epochs=4",)),
    # every 10 steps, written after the last batch of epoch 1, resumed by steps
    "every-10-steps": ((*STEP_EVERY_10, "trainer.max_steps=12"), ("trainer.max_steps=40",)),
}


@pytest.mark.parametrize("stop", sorted(STOPS))
def test_resuming_from_any_step_gives_the_uninterrupted_run(stop, uninterrupted_gan, tmp_path):
    first_args, resume_args = STOPS[stop]
    first, resumed = run_and_resume(tmp_path, QUICK, first_args, resume_args)
    compare_with_uninterrupted(uninterrupted_gan, first, resumed)


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["mid-epoch", "epoch-end"])
def test_cyclegan_on_a_folder_set_resumes_exactly(stop, tmp_path):
    """The image pool, the random B partner and the random crops, mid-epoch and at an epoch's
    end (10 images of A, batches of 2: 10 steps an epoch)."""
    root = write_unpaired(tmp_path / "set", a=10, b=7)
    extra = (*QUICK, *CYCLEGAN, f"data.root={root}")
    straight = tmp_path / "straight"
    result = run_cli(*extra, "seed=5", "trainer.max_steps=26", run_dir=straight)
    assert result.returncode == 0, result.stderr[-3000:]
    stop_at = {"mid-epoch": 14, "epoch-end": 10}[stop]
    first, resumed = run_and_resume(
        tmp_path, extra, (f"trainer.max_steps={stop_at}",), ("trainer.max_steps=26",)
    )
    compare_with_uninterrupted(straight, first, resumed)


@pytest.mark.slow
def test_loader_workers_resume_exactly_on_an_in_memory_set(uninterrupted_gan, tmp_path):
    workers = (*QUICK, "data.loader.num_workers=2")
    first, resumed = run_and_resume(
        tmp_path, workers, ("trainer.max_steps=14",), ("trainer.max_epochs=4",)
    )
    compare_with_uninterrupted(uninterrupted_gan, first, resumed)


def test_an_unseeded_run_records_its_seed_and_resumes_exactly_with_it(tmp_path):
    first, resumed, straight = tmp_path / "first", tmp_path / "resumed", tmp_path / "straight"
    result = run_cli(*QUICK, "seed=null", "trainer.max_steps=14", run_dir=first)
    assert result.returncode == 0, result.stderr[-3000:]
    said = re.search(r"seed=null: this run's seed is (\d+)", (first / "train.log").read_text())
    assert said, (first / "train.log").read_text()[-2000:]
    seed = int(said.group(1))
    last = first / "checkpoints" / "last.ckpt"
    assert load_checkpoint(last)[CHECKPOINT_KEY]["config"]["seed"] == seed
    assert json.loads((first / "status.json").read_text())["seed"] == seed
    shutil.copytree(first, resumed)
    # mid-epoch: the rest of the epoch's order comes from the seed, so a new draw would show
    result = run_cli(*QUICK, "seed=null", "trainer.max_epochs=2", "ckpt_path=last",
                     run_dir=resumed)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    log = (resumed / "train.log").read_text()
    assert f"seed=null: resuming with {resumed / 'checkpoints' / 'last.ckpt'}'s seed, {seed}" in log
    result = run_cli(*QUICK, f"seed={seed}", "trainer.max_epochs=2", run_dir=straight)
    assert result.returncode == 0, result.stderr[-3000:]
    compare_with_uninterrupted(straight, first, resumed)


def test_seed_null_draws_its_own_seed_unless_a_ddp_launcher_hands_one_over(monkeypatch):
    monkeypatch.setenv(SEED_VARIABLE, "11")  # left by an earlier job of this process
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert choose_seed(7, 3) == 7 and choose_seed(None, 3) == 3
    drawn = {choose_seed(None, None) for _ in range(3)}
    assert 11 not in drawn and len(drawn) == 3
    monkeypatch.setenv("LOCAL_RANK", "0")  # the first process, after a DDP job
    assert choose_seed(None, None) != 11
    monkeypatch.setenv("LOCAL_RANK", "1")  # a rank Lightning's DDP launcher started
    assert choose_seed(None, None) == 11


def test_a_resume_says_when_its_seed_is_not_the_checkpoints(caplog):
    from omegaconf import OmegaConf

    from gan_lightning.train import _seed

    def written_with(seed: int | None) -> dict:
        return {CHECKPOINT_KEY: {"config": {"seed": seed}}}

    with caplog.at_level("INFO", logger="gan_lightning.train"):
        _seed(OmegaConf.create({"seed": 42}), "a.ckpt", written_with(7))
        assert "seed=42, but a.ckpt was written by a run with seed=7" in caplog.text
        caplog.clear()
        _seed(OmegaConf.create({"seed": 7}), "a.ckpt", written_with(7))
        assert not caplog.text
        unseeded = OmegaConf.create({"seed": None})
        _seed(unseeded, "old.ckpt", written_with(None))
        assert f"old.ckpt recorded no seed; this run's seed is {unseeded.seed}" in caplog.text


def test_ranks_seeded_apart_share_rank_0s_base():
    streams = []
    for own_seed in (1, 2):  # two ranks (as rank 1) that drew different seeds
        torch.manual_seed(own_seed)
        seed_for_rank(1, share=lambda base: 123)  # the broadcast of rank 0's base
        streams.append(torch.rand(3))
    assert torch.equal(*streams)
    torch.manual_seed(1)
    seed_for_rank(1)
    assert not torch.equal(torch.rand(3), streams[0])


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    import random

    import numpy as np

    state = collect_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0])
    assert np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def _start_long_run(run_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable, "-m", "gan_lightning", f"hydra.run.dir={run_dir}", *extra,
        "trainer.max_epochs=100000", "callbacks.evaluation=null",
    ]  # fmt: skip
    return subprocess.Popen(
        cmd,
        cwd=run_dir.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test run in the background inherits an ignored SIGINT, and Python then installs no
        # KeyboardInterrupt handler: give the child the default, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("sent", "status"),
    [(signal.SIGTERM, 143), pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)],
)
def test_a_signal_saves_a_checkpoint_and_the_run_resumes_from_it(sent, status, tmp_path):
    run_dir = tmp_path / "run"
    # batches of 4: 449 an epoch, about 2 s on an idle machine. The first run writes last.ckpt
    # only every 950 steps (batch 26 of the second epoch, two steps a batch), so its first
    # appearance says the second epoch is under way with most of it to go: the signal lands
    # inside an epoch however fast the machine
    small = ("data.loader.batch_size=4",)
    in_second_epoch = 950
    process = _start_long_run(
        run_dir, *small, "callbacks.model_checkpoint=null",
        f"callbacks.step_checkpoint.every_n_train_steps={in_second_epoch}",
    )  # fmt: skip
    try:
        _wait_for(run_dir / "checkpoints" / "last.ckpt", process)
        process.send_signal(sent)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()  # never leave a training process behind when the test fails
    assert process.returncode == status, stderr[-2000:]
    name = "SIGTERM" if sent == signal.SIGTERM else "SIGINT"
    assert f"interrupted by {name}: saved {run_dir / 'checkpoints' / 'last.ckpt'}" in stderr
    assert "Traceback" not in stderr
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"
    assert not list((run_dir / "checkpoints").glob("*.partial"))
    assert saved["epoch"] == 1
    # ckpt_path=last in the same run folder (how a requeued SLURM job restarts) continues it
    epochs = saved["epoch"] + 1
    result = run_cli(*small, "ckpt_path=last", f"trainer.max_epochs={epochs}",
                     "callbacks.evaluation=null", run_dir=run_dir)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        f"resuming from {run_dir / 'checkpoints' / 'last.ckpt'}"
        in (run_dir / "train.log").read_text()
    )
    resumed = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["epoch"] == saved["epoch"]  # the interrupted epoch, now finished
    assert resumed["global_step"] > saved["global_step"] > in_second_epoch
    steps_an_epoch = resumed["global_step"] // epochs
    assert saved["global_step"] % steps_an_epoch != 0  # the signal came inside an epoch
    straight = tmp_path / "straight"
    result = run_cli(
        *small, f"trainer.max_epochs={epochs}", "callbacks.evaluation=null", run_dir=straight
    )
    assert result.returncode == 0, result.stderr[-2000:]
    a, b = final_state(straight), resumed["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # as if it had never been interrupted


def test_an_interruption_before_the_first_update_saves_nothing(tmp_path):
    from types import SimpleNamespace

    from gan_lightning.callbacks.interruption import InterruptionCheckpoint

    callback = InterruptionCheckpoint(str(tmp_path))
    trainer = SimpleNamespace(global_step=7, save_checkpoint=lambda path, **_: path.write_text("x"))
    callback.on_exception(trainer, None, KeyboardInterrupt())  # still setting up
    assert callback.saved is None and not (tmp_path / "last.ckpt").exists()
    callback.on_train_start(trainer, None)  # resumed at step 7
    callback.on_exception(trainer, None, KeyboardInterrupt())
    assert callback.saved is None
    trainer.global_step = 9
    callback.on_exception(trainer, None, KeyboardInterrupt())
    assert callback.saved == tmp_path / "last.ckpt" and callback.signal_name == "SIGINT"


@pytest.mark.slow
def test_kill_9_never_leaves_a_half_written_last_ckpt(tmp_path):
    """Killed at arbitrary moments while it checkpoints every epoch (~ every second), the run
    folder's last.ckpt, when present, always loads."""
    run_dir = tmp_path / "run"
    process = _start_long_run(run_dir)
    try:
        _wait_for(run_dir / "checkpoints" / "last.ckpt", process)
        for _ in range(10):
            time.sleep(0.37)
            load_checkpoint(run_dir / "checkpoints" / "last.ckpt")  # loads while being replaced
    finally:
        process.kill()
        process.communicate()
    load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert resolve_resume(str(run_dir), tmp_path).endswith("last.ckpt")


def test_atomic_checkpoint_io_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"value": torch.ones(1)}, path)

    def failing_save(obj, target):
        Path(target).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"value": torch.zeros(1)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["value"], torch.ones(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


# --- divergence ---------------------------------------------------------------------------------
def _loader_with_nan_batch(bad_batch: int | None = 2, batches: int = 4) -> DataLoader:
    images = torch.rand(batches * 8, *SHAPE) * 2 - 1
    if bad_batch is not None:
        images[bad_batch * 8] = float("nan")
    return DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=8)


def test_non_finite_loss_stops_with_the_step_and_the_loss():
    model = make_gan(optimizer=partial(torch.optim.Adam, lr=1e-3))
    with pytest.raises(TrainingDiverged, match=r"d_loss is nan at step 4 \(epoch 0\)"):
        quiet_trainer(max_epochs=1).fit(model, _loader_with_nan_batch())


def test_the_batched_check_stops_at_the_window_and_names_the_first_bad_step():
    """Logging every 3 batches: the NaN of batch 2 (step 4) is found at that window, before
    batch 3 runs, whatever came after it in the window."""
    model = make_gan(optimizer=partial(torch.optim.Adam, lr=1e-3))
    batches = []
    step = model.training_step
    model.training_step = lambda batch, batch_idx: (
        batches.append(batch_idx),
        step(batch, batch_idx),
    )[1]
    with pytest.raises(TrainingDiverged, match=r"d_loss is nan at step 4 \(epoch 0\)"):
        quiet_trainer(max_epochs=1, log_every_n_steps=3).fit(
            model, _loader_with_nan_batch(batches=6)
        )
    assert batches == [0, 1, 2]


def test_losses_are_checked_at_least_every_max_unchecked_updates(monkeypatch):
    from gan_lightning.models import adversarial

    monkeypatch.setattr(adversarial, "MAX_UNCHECKED_LOSSES", 4)  # 2 batches of D + G
    model = make_gan(optimizer=partial(torch.optim.Adam, lr=1e-3))
    pending = []
    check = model.guard.check
    model.guard.check = lambda *a, **k: (
        pending.append(len(model.guard.losses)),
        check(*a, **k),
    )[1]
    quiet_trainer(max_epochs=1, log_every_n_steps=1000).fit(model, _loader_with_nan_batch(None, 6))
    # after batches 1, 3 and 5 (the last), then at the epoch's end with nothing left
    assert pending == [4, 4, 4, 0]


def test_no_checkpoint_is_written_while_the_weights_are_not_finite(tmp_path):
    """A save between two checks (an interruption, ModelCheckpoint every n steps) refuses
    non-finite parameters: naming the queued loss where this rank computed it, else the
    parameter (under DDP another rank's NaN loss reaches every rank's weights)."""
    model = make_gan()
    trainer = quiet_trainer(max_steps=2)
    trainer.fit(model, _loader_with_nan_batch(None))
    model.guard.losses.append(torch.tensor(float("inf")))  # finite weights: saved
    model.guard.where.append(("g_loss", 7, 3))
    trainer.save_checkpoint(tmp_path / "fine.ckpt")
    with torch.no_grad():
        next(model.discriminator.parameters())[0] = float("nan")
    model.guard.losses.append(torch.tensor(float("inf")))
    model.guard.where.append(("g_loss", 7, 3))
    with pytest.raises(TrainingDiverged, match=r"g_loss is inf at step 7 \(epoch 3\)"):
        trainer.save_checkpoint(tmp_path / "x.ckpt")
    with pytest.raises(TrainingDiverged, match=r"discriminator\.\S+ is not finite at step 2"):
        trainer.save_checkpoint(tmp_path / "y.ckpt")  # nothing queued on this rank
    assert [p.name for p in tmp_path.iterdir()] == ["fine.ckpt"]


def test_a_nan_on_one_ddp_rank_stops_every_rank_and_writes_no_bad_checkpoint(tmp_path):
    """The NaN reaches rank 0's weights through the gradient all-reduce before rank 0 has a
    bad loss of its own: the save checks the weights, so both ranks refuse to write."""
    checkpoints = tmp_path / "checkpoints"
    result = subprocess.run(
        [sys.executable, "-m", "tests.ddp_nan_on_one_rank", str(checkpoints)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode != 0
    assert "[rank0]: gan_lightning.errors.TrainingDiverged" in result.stderr, result.stderr[-3000:]
    assert "[rank1]: gan_lightning.errors.TrainingDiverged" in result.stderr
    for path in checkpoints.glob("*.ckpt") if checkpoints.exists() else []:
        state = torch.load(path, weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


class EpochEndWeights(pl.Callback):
    def __init__(self) -> None:
        self.finite: list[bool] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.finite.append(all(bool(p.isfinite().all()) for p in pl_module.parameters()))


def test_an_epoch_cut_short_is_checked_before_callbacks_see_its_weights():
    """max_steps=8 ends the epoch after batch 3 of 6: the NaN of batch 2 stops the run there,
    before epoch-end callbacks (grids, metrics) run on the weights."""
    model = make_gan(optimizer=partial(torch.optim.Adam, lr=1e-3))
    callback = EpochEndWeights()
    with pytest.raises(TrainingDiverged, match=r"d_loss is nan at step 4 \(epoch 0\)"):
        quiet_trainer(max_steps=8, log_every_n_steps=1000, callbacks=[callback]).fit(
            model, _loader_with_nan_batch(batches=6)
        )
    assert callback.finite == []


def test_skip_mode_skips_the_bad_update_and_keeps_weights_finite():
    model = make_gan(optimizer=partial(torch.optim.Adam, lr=1e-3), on_nonfinite="skip")
    quiet_trainer(max_epochs=1).fit(model, _loader_with_nan_batch())
    assert model.guard.skipped_updates == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_divergence_exits_3_and_keeps_the_last_good_checkpoint(tmp_path):
    """lr x 1e30 after the first epoch (StepLR) blows the weights up in the second."""
    run_dir = tmp_path / "run"
    scheduler = (
        "model.training.scheduler={_target_:torch.optim.lr_scheduler.StepLR,"
        "_partial_:true,step_size:1,gamma:1e30}"
    )
    result = run_cli(*QUICK, "trainer.max_epochs=5", scheduler, run_dir=run_dir)
    assert result.returncode == 3, result.stderr[-2000:]
    line = [x for x in result.stderr.splitlines() if x.startswith("error: ")][0]
    assert line.startswith("error: training diverged: ") and "(epoch 1)" in line
    assert line.endswith(f"last good checkpoint: {run_dir / 'checkpoints' / 'last.ckpt'}")
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["epoch"] == 0  # the checkpoint of epoch 0, not of the diverged epoch 1
    assert all(
        torch.isfinite(v).all() for v in saved["state_dict"].values() if v.is_floating_point()
    )
    assert json.loads((run_dir / "status.json").read_text())["status"] == "failed"


# --- safe checkpoints ---------------------------------------------------------------------------
class Payload:
    """Any object: unpickling it would run code of this module."""


def test_checkpoint_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({CHECKPOINT_KEY: {"version": "0.1.0", "config": {}}, "x": Payload()}, path)
    with pytest.raises(UserError, match=r"holds pickled code \(tests.test_reliability.Payload\)"):
        load_checkpoint(path)


def test_checkpoint_of_another_version_says_so(tmp_path):
    trainer = quiet_trainer(max_steps=2, default_root_dir=tmp_path)
    model = make_gan()
    model.run_config = {"model": {}}
    trainer.fit(model, _loader_with_nan_batch(bad_batch=None, batches=2))
    path = tmp_path / "old.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert load_checkpoint(path)[CHECKPOINT_KEY]["version"] == gan_lightning.__version__
    checkpoint[CHECKPOINT_KEY]["version"] = "9.0.0"
    torch.save(checkpoint, path)
    with pytest.raises(UserError, match=r"written by gan-lightning 9\.0\.0, which is incompatible"):
        load_checkpoint(path)


def test_a_resumed_csv_log_keeps_its_rows_before_the_first_new_step(tmp_path):
    """Rows logged after the checkpoint (steps 6-9 here) are logged again by the resumed run:
    they are replaced, and the rest of the file is kept; a new column joins the old header."""
    from pytorch_lightning.loggers import CSVLogger

    from gan_lightning.training.lightning_adapter import keep_csv_rows_on_resume

    def logger() -> CSVLogger:
        return CSVLogger(save_dir=tmp_path, name="csv", version="")

    first = logger()
    for step in range(10):
        first.log_metrics({"loss": float(step)}, step=step)
    first.save()
    with open(tmp_path / "csv" / "metrics.csv", "a") as handle:
        handle.write("0.5")  # a row cut short when the process was killed: "loss" only
    resumed = logger()
    keep_csv_rows_on_resume(resumed)
    resumed.log_hyperparams({"lr": 1.0})  # opens the folder, as train.py does before fitting
    for step in range(6, 12):
        resumed.log_metrics({"loss": step + 0.5, "eval/new": 1.0}, step=step)
    resumed.save()
    with open(tmp_path / "csv" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(int(r["step"]), float(r["loss"])) for r in rows] == [
        *((s, float(s)) for s in range(6)),
        *((s, s + 0.5) for s in range(6, 12)),
    ]
    assert [r["eval/new"] for r in rows] == [""] * 6 + ["1.0"] * 6
    assert not list((tmp_path / "csv").glob("*.partial"))


def test_resolve_resume(tmp_path):
    assert resolve_resume("last", tmp_path) is None  # nothing to resume: a fresh start
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch_001.ckpt").write_bytes(b"x")
    assert resolve_resume(str(tmp_path), "elsewhere").endswith("epoch_001.ckpt")
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert resolve_resume("last", tmp_path) == str(tmp_path / "checkpoints" / "last.ckpt")
    with pytest.raises(UserError, match="no such file"):
        resolve_resume(str(tmp_path / "nope.ckpt"), tmp_path)
