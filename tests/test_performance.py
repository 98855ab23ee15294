"""What the performance work must keep: batched data equal to per-sample data, logging that
costs nothing on the steps that do not log, means that are right, and the speed options."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import pytorch_lightning as pl
import torch

from gan_lightning.callbacks.speed import SpeedOptions, is_channels_last
from gan_lightning.data.in_memory import InMemoryImageDataset, batch_loader
from gan_lightning.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_lightning.training.running_means import RunningMeans
from tests.conftest import REPO_ROOT, quiet_trainer
from tests.test_adversarial import loader, make_gan


def test_batched_fetch_equals_the_per_sample_path():
    images = torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8)
    dataset = InMemoryImageDataset(images, torch.arange(10))
    batch, labels = dataset.__getitems__([3, 0, 7])
    per_sample = [dataset[i] for i in (3, 0, 7)]
    assert torch.equal(batch, torch.stack([image for image, _ in per_sample]))
    assert labels.tolist() == [3, 0, 7]
    assert batch.min() >= -1 and batch.max() <= 1 and batch.dtype == torch.float32


def test_batch_loader_yields_whole_shuffled_batches():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous()
    torch.manual_seed(0)
    batches = list(batch_loader(InMemoryImageDataset(images, torch.arange(10)), {"batch_size": 4}))
    assert len(batches) == 2  # drop_last: 10 images make 2 batches of 4
    seen = torch.cat([labels for _, labels in batches]).tolist()
    assert len(set(seen)) == 8 and seen != sorted(seen)
    for images_batch, labels in batches:  # each image still carries its own label
        assert torch.equal(((images_batch[:, 0, 0, 0] + 1) * 127.5).round(), labels.float())


def test_running_means():
    means = RunningMeans()
    assert not means
    means.add({"a": torch.tensor(1.0), "b": torch.tensor(4.0)})
    means.add({"a": torch.tensor(3.0)})
    result = means.means()
    assert result["a"].item() == 2.0 and result["b"].item() == 4.0
    means.reset()
    assert not means


def test_running_means_sum_their_pending_steps_in_bounded_batches(monkeypatch):
    from gan_lightning.training import running_means

    monkeypatch.setattr(running_means, "MAX_PENDING", 3)
    window, epoch = RunningMeans(), RunningMeans()
    for step in range(7):
        values = {"d": torch.tensor(float(step))}
        if step % 2:
            values["g"] = torch.tensor(10.0 * step, dtype=torch.bfloat16)
        packed = RunningMeans.pack(values)  # shared by both
        window.add(packed)
        epoch.add(packed)
        assert len(epoch._pending) < 3
    assert epoch.counts == {"d": 7, "g": 3}
    result = epoch.means()
    assert result["d"].item() == 3.0 and result["g"].item() == pytest.approx(30.0)
    assert result["g"].dtype == torch.float32
    assert window.means()["d"].item() == 3.0


def test_steps_that_do_not_log_make_no_logging_call(tmp_path, monkeypatch):
    model = make_gan()
    calls, written = [], []
    original = model.log_dict
    monkeypatch.setattr(model, "log_dict", lambda *a, **k: (calls.append(1), original(*a, **k)))
    logger = pl.loggers.CSVLogger(tmp_path)
    log_metrics = logger.log_metrics
    monkeypatch.setattr(
        logger,
        "log_metrics",
        lambda metrics, step: (written.append(step), log_metrics(metrics, step)),
    )
    trainer = quiet_trainer(max_epochs=1, logger=logger, log_every_n_steps=5)
    trainer.fit(model, loader(n_batches=10))
    # the epoch's means go through self.log (2 calls: loggers, callbacks); the 2 windows go to
    # the logger directly, at the steps Lightning gives self.log's step metrics (4 and 9), and
    # the epoch's row follows; nothing on the other 8 batches
    assert len(calls) == 2
    assert written == [4, 9, 9]
    # where self.log would have put them: callbacks (status.json, Optuna) and the progress bar
    assert set(trainer.logged_metrics) >= {"train/d_loss_step", "train/g_loss_epoch"}
    assert set(trainer.callback_metrics) >= {"train/d_loss_step", "d_loss", "g_loss"}
    assert set(trainer.progress_bar_metrics) == {"d_loss", "g_loss"}
    rows = list(csv.DictReader(open(tmp_path / "lightning_logs" / "version_0" / "metrics.csv")))
    last_window = [r for r in rows if r["train/d_loss_step"]][-1]
    assert float(last_window["train/d_loss_step"]) == pytest.approx(
        float(trainer.callback_metrics["train/d_loss_step"])
    )
    assert trainer.progress_bar_metrics["d_loss"] == pytest.approx(
        float(trainer.callback_metrics["d_loss"])
    )


def fit_and_read_metrics(tmp_path, **trainer_args):
    """Train the tiny GAN on 4 batches per epoch; returns the trainer and metrics.csv's rows."""
    trainer = quiet_trainer(logger=pl.loggers.CSVLogger(tmp_path, name="m"), **trainer_args)
    trainer.fit(make_gan(), loader(n_batches=4))
    with open(tmp_path / "m" / "version_0" / "metrics.csv", newline="") as handle:
        return trainer, list(csv.DictReader(handle))


def test_epoch_means_are_the_means_of_the_steps(tmp_path):
    trainer, rows = fit_and_read_metrics(tmp_path, max_epochs=2, log_every_n_steps=1)
    for epoch in ("0", "1"):
        steps = [
            float(r["train/d_loss_step"])
            for r in rows
            if r["epoch"] == epoch and r["train/d_loss_step"]
        ]
        (mean,) = [
            float(r["train/d_loss_epoch"])
            for r in rows
            if r["epoch"] == epoch and r["train/d_loss_epoch"]
        ]
        assert len(steps) == 4
        assert mean == pytest.approx(sum(steps) / 4, rel=1e-6)
    # callbacks (the health monitor) read the epoch means at the epoch's end
    assert "train/d_real_epoch" in trainer.callback_metrics


def test_log_every_n_steps_logs_the_mean_of_the_window(tmp_path):
    _, rows = fit_and_read_metrics(tmp_path, max_epochs=1, log_every_n_steps=4)
    (window,) = [float(r["train/d_loss_step"]) for r in rows if r["train/d_loss_step"]]
    (epoch,) = [float(r["train/d_loss_epoch"]) for r in rows if r["train/d_loss_epoch"]]
    assert window == pytest.approx(epoch, rel=1e-6)  # one window = the whole epoch here


def tiny_dcgan():
    generator = DCGANGenerator(latent_dim=8, image_size=32, channels=1, base_width=8)
    discriminator = DCGANDiscriminator(image_size=32, channels=1, base_width=8)
    return make_gan(generator=generator, discriminator=discriminator)


def test_channels_last_converts_the_conv_weights_and_trains():
    model = tiny_dcgan()
    assert not is_channels_last(model.generator)
    images = torch.rand(16, 1, 32, 32) * 2 - 1
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, torch.zeros(16)), batch_size=8
    )
    trainer = quiet_trainer(max_epochs=1, callbacks=[SpeedOptions(channels_last=True)])
    trainer.fit(model, data)
    assert is_channels_last(model.generator) and is_channels_last(model.discriminator)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
def test_compiled_networks_train_and_keep_their_checkpoint_keys(tmp_path):
    from tests.conftest import run_cli

    runs = {}
    for compiled in (False, True):
        run_dir = tmp_path / f"compile_{compiled}"
        result = run_cli(
            "debug=smoke",
            "callbacks.evaluation=null",
            f"callbacks.speed.compile={compiled}",
            run_dir=run_dir,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        runs[compiled] = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert list(runs[True]["state_dict"]) == list(runs[False]["state_dict"])


@pytest.mark.slow
def test_the_benchmark_runs_and_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "experiments" / "benchmarks" / "bench.py"),
            "--quick",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [(r["model"], r["batch_size"]) for r in report["step"]] == [
        ("mlp_gan_28", 64),
        ("mlp_gan_28", 256),
        ("dcgan_32", 64),
        ("dcgan_32", 256),
    ]
    for row in report["step"]:
        assert row["ratio"] > 0 and row["framework_img_s"] > 0 and row["plain_img_s"] > 0
    assert report["mnist_epoch_data"]["images"] > 0
    assert [m["peak_rss_gb"] > 0 for m in report["peak_memory"]] == [True, True]


def test_logging_windows_start_with_the_epoch(tmp_path, monkeypatch):
    """3 batches per epoch, logging every 2: the window logged on the second epoch's first
    batch holds that batch alone, as in a run resumed at that epoch's start."""
    model = make_gan()
    sizes = []
    original = model.step_logs.log_window

    def record(*args):
        sizes.append(model.step_logs.window.counts["d_loss"])
        original(*args)

    monkeypatch.setattr(model.step_logs, "log_window", record)
    trainer = quiet_trainer(
        max_epochs=2, logger=pl.loggers.CSVLogger(tmp_path), log_every_n_steps=2
    )
    trainer.fit(model, loader(n_batches=3))
    assert sizes == [2, 1, 2]


# --- host reads: on a GPU each one waits for every queued kernel ------------------------------
HOST_READS = ("__bool__", "__float__", "__int__", "__index__", "item", "tolist", "cpu", "numpy")
PACKAGE_DIR = str(REPO_ROOT / "gan_lightning")


# The image pool's random draws come from torch's CPU generator: host numbers, read with no
# device sync (on the CPU this test cannot tell the two apart).
HOST_DRAWS = (str(REPO_ROOT / "gan_lightning" / "models" / "image_pool.py"),)


def count_host_reads(monkeypatch) -> list[str]:
    """Every tensor read on the host that the project's own code makes, as 'file:line'."""
    reads: list[str] = []
    for method in HOST_READS:
        original = getattr(torch.Tensor, method)

        def wrapper(self, *args, __original=original, __method=method, **kwargs):
            caller = sys._getframe(1)
            where = caller.f_code.co_filename
            if where.startswith(PACKAGE_DIR) and where not in HOST_DRAWS:
                reads.append(f"{where}:{caller.f_lineno} {__method}")
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, method, wrapper)
    return reads


def variant_and_data(name: str):
    from tests.test_cgan import make_cgan
    from tests.test_cyclegan import make_cyclegan, unpaired_loader
    from tests.test_pix2pix import make_pix2pix, paired_loader

    def labelled(shape, classes=3, n=12):
        images = torch.rand(n, *shape) * 2 - 1
        return torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(images, torch.arange(n) % classes), batch_size=2
        )

    if name == "gan":
        return make_gan(), loader(n_batches=6, batch_size=2)
    if name == "dcgan":
        return tiny_dcgan(), labelled((1, 32, 32))
    if name == "cgan":
        return make_cgan(), labelled((1, 8, 8))
    if name == "cgan_dcgan":
        return make_cgan(nets="dcgan"), labelled((1, 32, 32))
    if name == "cyclegan":
        return make_cyclegan(), unpaired_loader(n_batches=6)
    return make_pix2pix(), paired_loader(n_batches=6)


@pytest.mark.parametrize("name", ["gan", "dcgan", "cgan", "cgan_dcgan", "cyclegan", "pix2pix"])
def test_steps_between_logging_windows_read_no_tensor_on_the_host(name, monkeypatch):
    """The finiteness check of on_nonfinite=stop reads the losses in one batch at the logging
    window or the epoch's end, not once per update (2 syncs per batch, and 2 all-reduces under
    DDP)."""
    model, data = variant_and_data(name)
    reads_per_batch: list[list[str]] = []
    step = model.training_step

    def recorded_step(batch, batch_idx):
        with pytest.MonkeyPatch.context() as patch:
            reads_per_batch.append(count_host_reads(patch))
            return step(batch, batch_idx)

    monkeypatch.setattr(model, "training_step", recorded_step)
    quiet_trainer(max_epochs=1, log_every_n_steps=1000).fit(model, data)
    assert len(reads_per_batch) == 6
    assert reads_per_batch[:-1] == [[]] * 5  # batches 0-4: nothing read
    assert reads_per_batch[-1]  # the epoch's last batch checks the losses


def test_the_gpu_speed_script_runs_every_option_on_the_cpu(tmp_path):
    """``gpu_speed.py --device cpu --quick``: every case, batch size and option but compile
    trains and reports images/s (a check of the script; the figures need a GPU)."""
    out = tmp_path / "gpu.json"
    script = REPO_ROOT / "experiments" / "benchmarks" / "gpu_speed.py"
    result = subprocess.run(
        [sys.executable, str(script), "--device", "cpu", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r for r in rows if "error" in r] == []
    options = ["fp32", "bf16-mixed", "16-mixed", "channels_last", "cudnn.benchmark"]
    options.append("bf16 + channels_last + benchmark")
    expected = [
        (c, b, o)
        for c, b in (("dcgan_64", 128), ("cyclegan_256", 1), ("cyclegan_256", 4))
        for o in options
    ]
    assert [(r["case"], r["batch_size"], r["option"]) for r in rows] == expected
    assert all(r["images_per_s"] > 0 and r["speedup_vs_fp32"] > 0 for r in rows)


def test_the_gpu_speed_script_says_when_there_is_no_gpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    script = REPO_ROOT / "experiments" / "benchmarks" / "gpu_speed.py"
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "no CUDA device here; use --device cpu --quick" in result.stderr
