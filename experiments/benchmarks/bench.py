"""Framework tax: gan-lightning's training step against a plain PyTorch loop, in one process.

For each (model, batch size) both loops train the same networks (copies of one initialisation)
with the same losses, optimisers and in-memory batches; only the batches after a warm-up are
timed (counts per model in ``MODELS``). The two loops alternate several times (which one goes
first alternates too); ratio = framework time per batch / plain time per batch, as the median of
the ratios of each repetition's back-to-back pair (``ratio``: drift in the machine's load over
the run cancels within a pair), as the ratio of the medians (``ratio_of_medians``) and as the
ratio of the fastest repetitions (``ratio_of_minimums``: other load on a shared machine only
ever adds time, so each loop's fastest repetition is the closest to its own cost, the figure
Python's ``timeit`` recommends), and as the ratio of the median *window* times
(``ratio_of_window_medians``): every ``log_every_n_steps`` batches of every repetition form one
window, which holds exactly one logging step (and one progress-bar redraw) in both loops, so a
window costs what the framework costs per batch on average; the median over all the windows of
all the repetitions ignores the few that a stall of the shared machine hit, in either loop.

The framework side is what ``python -m gan_lightning`` runs per batch: Lightning's loop, the
shared adversarial step, logging every step (written every ``log_every_n_steps``) and the rich
progress bar; per-epoch callbacks (grids, checkpoints, evaluation) are left out, since they do
not run per step. The plain loop logs its losses every ``log_every_n_steps`` batches too.

Also reported: MNIST data-loader time for one epoch, and the peak resident memory of the default
job and of MNIST training (each a subprocess). Usage: ``make bench`` or
``python experiments/benchmarks/bench.py [--quick] [--out results.json]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from pytorch_lightning.loggers import CSVLogger
from torch.utils.data import DataLoader

from gan_lightning.data.in_memory import InMemoryImageDataset, batch_loader
from gan_lightning.data.loading import LoaderOptions

MODELS = {  # name -> (overrides, image shape, (warm-up batches, timed batches, repeats))
    "mlp_gan_28": (["model=gan", "data=mnist"], (1, 28, 28), (20, 100, 15)),
    # a DCGAN step takes 0.3-1.4 s on 2 CPU cores: fewer batches keep the run near 15 minutes
    "dcgan_32": (["model=dcgan", "data=svhn"], (3, 32, 32), (3, 10, 7)),
}
LOG_EVERY = 10  # trainer.log_every_n_steps of conf/trainer/default.yaml


def build(overrides: list[str], batch_size: int) -> tuple[pl.LightningModule, pl.Callback]:
    """The model and the progress bar exactly as ``python -m gan_lightning`` builds them."""
    with initialize_config_module("gan_lightning.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"data.loader.batch_size={batch_size}"])
    return instantiate(cfg.model), instantiate(cfg.callbacks.progress_bar)


def make_loader(shape: tuple[int, int, int], batch_size: int, batches: int) -> DataLoader:
    """uint8 images in memory, batched by index: the project's data path for small sets."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(
        0, 256, (batch_size * batches, *shape), dtype=torch.uint8, generator=generator
    )
    labels = torch.randint(0, 10, (images.shape[0],), generator=generator)
    return batch_loader(
        InMemoryImageDataset(images, labels), LoaderOptions(batch_size, pin_memory=False)
    )


class BatchTimer(pl.Callback):
    """The start time of every batch from batch ``warmup`` on, and the end of the last one."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.starts: list[float] = []
        self.end = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx >= self.warmup:
            self.starts.append(time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.end = time.perf_counter()


def window_times(marks: list[float]) -> list[float]:
    """Seconds per batch of each run of ``LOG_EVERY`` batches (``marks``: batch starts, then the
    end of the last batch)."""
    return [
        (marks[i + LOG_EVERY] - marks[i]) / LOG_EVERY
        for i in range(0, len(marks) - LOG_EVERY, LOG_EVERY)
    ]


def time_framework(
    model, progress_bar, loader, warmup: int, steps: int, log_dir: str
) -> tuple[float, list[float]]:
    timer = BatchTimer(warmup)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=warmup + steps,
        logger=CSVLogger(log_dir, name="bench"),
        callbacks=[timer, progress_bar],
        enable_checkpointing=False,
        enable_model_summary=False,
        log_every_n_steps=LOG_EVERY,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, train_dataloaders=loader)
    marks = [*timer.starts, timer.end]
    return (timer.end - timer.starts[0]) / steps, window_times(marks)


def time_plain(model, loader, warmup: int, steps: int) -> tuple[float, list[float]]:
    """The loop a researcher writes by hand, with the project's networks and losses."""
    generator, discriminator, loss = model.generator, model.discriminator, model.loss
    d_opt, g_opt = model.training_options.optimizers(
        discriminator.parameters(), generator.parameters()
    )
    latent_dim = model.latent_dim
    marks: list[float] = []
    for index, (real, _labels) in enumerate(loader):
        if index >= warmup:
            marks.append(time.perf_counter())
        if index == warmup + steps:
            break
        z = torch.randn(real.shape[0], latent_dim)
        with torch.no_grad():
            fake = generator(z)
        d_loss = loss.discriminator(discriminator(real), discriminator(fake))
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        for p in discriminator.parameters():  # G's loss must not train D
            p.requires_grad_(False)
        g_loss = loss.generator(discriminator(generator(torch.randn(real.shape[0], latent_dim))))
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        for p in discriminator.parameters():
            p.requires_grad_(True)
        if index % LOG_EVERY == 0:
            _ = (d_loss.item(), g_loss.item())
    return (marks[-1] - marks[0]) / steps, window_times(marks)


def compare(name: str, batch_size: int, quick: bool) -> dict:
    overrides, shape, (warmup, steps, repeats) = MODELS[name]
    if quick:
        warmup, steps, repeats = 2, LOG_EVERY, 1  # one window
    torch.manual_seed(0)
    reference, progress_bar = build(overrides, batch_size)
    framework_times, plain_times = [], []
    framework_windows, plain_windows = [], []
    with tempfile.TemporaryDirectory() as log_dir:
        for repeat in range(repeats):
            loader = make_loader(shape, batch_size, warmup + steps + 1)
            order = ("framework", "plain") if repeat % 2 == 0 else ("plain", "framework")
            for which in order:  # neither loop always runs first
                model = copy.deepcopy(reference)
                if which == "framework":
                    bar = copy.deepcopy(progress_bar)
                    seconds, windows = time_framework(model, bar, loader, warmup, steps, log_dir)
                    framework_times.append(seconds)
                    framework_windows += windows
                else:
                    seconds, windows = time_plain(model, loader, warmup, steps)
                    plain_times.append(seconds)
                    plain_windows += windows
    framework, plain = statistics.median(framework_times), statistics.median(plain_times)
    window_ratio = statistics.median(framework_windows) / statistics.median(plain_windows)
    pair_ratios = [f / p for f, p in zip(framework_times, plain_times, strict=True)]
    return {
        "model": name,
        "batch_size": batch_size,
        "timed_batches": steps,
        "repeats": repeats,
        "framework_ms": round(framework * 1e3, 3),
        "plain_ms": round(plain * 1e3, 3),
        "ratio": round(statistics.median(pair_ratios), 3),
        "ratio_of_medians": round(framework / plain, 3),
        "ratio_of_minimums": round(min(framework_times) / min(plain_times), 3),
        "ratio_of_window_medians": round(window_ratio, 3),
        "windows": len(framework_windows),
        "pair_ratios": [round(r, 3) for r in pair_ratios],
        "framework_img_s": round(batch_size / framework, 1),
        "plain_img_s": round(batch_size / plain, 1),
        "framework_ms_all": [round(t * 1e3, 3) for t in framework_times],
        "plain_ms_all": [round(t * 1e3, 3) for t in plain_times],
        "framework_window_ms": [round(t * 1e3, 3) for t in framework_windows],
        "plain_window_ms": [round(t * 1e3, 3) for t in plain_windows],
    }


class PerSample(torch.utils.data.Dataset):
    """The data path before batching by index: one tensor per image, stacked by collate."""

    def __init__(self, dataset: InMemoryImageDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index]


def epoch_seconds(loader: DataLoader) -> tuple[int, float]:
    start = time.perf_counter()
    images = sum(batch[0].shape[0] for batch in loader)
    return images, time.perf_counter() - start


def mnist_epoch_data_time(data_dir: Path, batch_size: int = 64) -> dict:
    """Seconds to iterate one epoch of the MNIST training loader (no training), batched by
    index (the data module's loader) and per sample (the path it replaced)."""
    from gan_lightning.data.mnist import MNISTDataModule

    datamodule = MNISTDataModule(data_dir=str(data_dir), loader=LoaderOptions(batch_size))
    datamodule.setup("fit")
    images, batched = epoch_seconds(datamodule.train_dataloader())
    per_sample_loader = DataLoader(
        PerSample(datamodule.train_set), batch_size=batch_size, shuffle=True, drop_last=True
    )
    _, per_sample = epoch_seconds(per_sample_loader)
    return {
        "images": images,
        "batched_s": round(batched, 3),
        "per_sample_s": round(per_sample, 3),
        "speedup": round(per_sample / batched, 1),
    }


def write_synthetic_mnist(root: Path, n: int = 60000) -> Path:
    """A full-size MNIST training set in the real IDX format (random pixels)."""
    import struct

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (n,), dtype=torch.uint8, generator=generator)
    for name, array in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        header = bytes([0, 0, 8, array.dim()]) + struct.pack(f">{array.dim()}I", *array.shape)
        (raw / name).write_bytes(header + array.numpy().tobytes())
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        source = raw / name.replace("t10k", "train")
        (raw / name).write_bytes(source.read_bytes())
    return root


def peak_rss_gb(args: list[str], cwd: Path) -> dict:
    """Peak resident memory of ``python -m gan_lightning <args>`` (a fresh process)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "gan_lightning", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    stderr = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, in KiB on Linux
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{stderr.decode()[-2000:]}")
    return {
        "args": " ".join(a for a in args if not a.startswith("hydra.run.dir")),
        "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps: checks the script runs")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # keep the table readable
    torch.set_num_threads(args.threads or torch.get_num_threads())
    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"torch {torch.__version__}, lightning {pl.__version__}, {torch.get_num_threads()} threads",
        "step": [],
    }
    print(
        f"{'model':<12} {'batch':>5} {'framework ms':>12} {'plain ms':>9} {'ratio':>6} "
        f"{'of mins':>7} {'windows':>7} {'fw img/s':>9} {'plain img/s':>11}"
    )
    for name in MODELS:
        for batch_size in (64, 256):
            row = compare(name, batch_size, args.quick)
            results["step"].append(row)
            print(
                f"{name:<12} {batch_size:>5} {row['framework_ms']:>12.2f} "
                f"{row['plain_ms']:>9.2f} {row['ratio']:>6.3f} {row['ratio_of_minimums']:>7.3f} "
                f"{row['ratio_of_window_medians']:>7.3f} "
                f"{row['framework_img_s']:>9.0f} {row['plain_img_s']:>11.0f}",
                flush=True,
            )
    with tempfile.TemporaryDirectory() as tmp:
        root = write_synthetic_mnist(Path(tmp), n=6000 if args.quick else 60000)
        results["mnist_epoch_data"] = mnist_epoch_data_time(root)
        data = results["mnist_epoch_data"]
        print(
            f"MNIST data loader, one epoch of {data['images']} images: batched by index "
            f"{data['batched_s']} s, per sample {data['per_sample_s']} s",
            flush=True,
        )
        epochs = [
            "trainer.max_epochs=1",
            *(["trainer.limit_train_batches=20"] if args.quick else []),
        ]
        memory = [
            peak_rss_gb(
                [
                    "hydra.run.dir=" + str(Path(tmp) / "default"),
                    *(["trainer.max_epochs=2"] if args.quick else []),
                ],
                Path(tmp),
            ),
            peak_rss_gb(
                [
                    "data=mnist",
                    f"paths.data_dir={root}",
                    *epochs,
                    "hydra.run.dir=" + str(Path(tmp) / "mnist"),
                ],
                Path(tmp),
            ),
        ]
    results["peak_memory"] = memory
    for row in memory:
        print(
            f"peak RSS {row['peak_rss_gb']} GB in {row['seconds']} s: "
            f"python -m gan_lightning {row['args']}"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
