"""Shared fixtures: tiny data sets in the real on-disk formats, and a CLI runner."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

# One torch thread per test process (and, through the environment, per command-line run it
# starts): with two pytest workers on two cores, two threads each oversubscribe the cores and
# oneDNN's spinning threads made small conv steps many times slower (45 s against 81 s for
# tests/test_pix2pix.py alone, serially, beside one other job).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def first_batch(datamodule):
    """Prepare and set up a data module the way Lightning does, and return its first batch."""
    datamodule.prepare_data()
    datamodule.setup("fit")
    return next(iter(datamodule.train_dataloader()))


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write a uint8 array in the IDX format (magic 0x00 0x00 0x08 ndim, big-endian dims)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())


def make_digit_like_images(n: int, size: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images with a bright bar whose position encodes the label: real structure, tiny files."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 30, size=(n, size, size)).astype(np.uint8)
    for i, label in enumerate(labels):
        row = 2 + int(label) * (size - 4) // 10
        images[i, row : row + 2, 4 : size - 4] = 255
    return images, labels


def write_mnist(root: Path, train: int = 256, test: int = 64) -> Path:
    """Write MNIST/raw/ IDX files under ``root`` (torchvision's layout); returns ``root``."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", train, 0), ("t10k", test, 1)):
        images, labels = make_digit_like_images(n, seed=seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture
def checkpoint_reads(monkeypatch) -> list:
    """The paths ``torch.load`` is called with from here on: a command reads its checkpoint once."""
    reads: list = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: reads.append(a[0]) or load(*a, **k))
    return reads


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """A data_dir holding MNIST/raw/ with 256 train and 64 test images in IDX format."""
    return write_mnist(tmp_path / "mnist_root")


def write_svhn(path: Path, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An SVHN-format .mat: X (32, 32, 3, N) uint8, y (N, 1) with 10 standing for digit 0."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    x[0, 0, :, 0], x[1, 1, :, 0] = 0, 255  # the full range is present
    y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)
    y[:3, 0] = [10, 1, 10]
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"X": x, "y": y})
    return x, y


CIFAR10_LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def write_cifar10(
    root: Path, per_batch: int = 8, test: int = 12, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``root/cifar-10-batches-py/`` as in cifar-10-python.tar.gz: data_batch_1..5 (``per_batch``
    images each), test_batch and batches.meta, each a protocol-2 pickle of a dict with bytes keys;
    b"data" is uint8 (N, 3072), rows holding the R, G, B planes of a 32x32 image.

    Returns (train images, train labels, test images, test labels), images uint8 (N, 3, 32, 32).
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def batch(n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        images[0, 0, 0, 0], images[0, 2, 31, 31] = 0, 255  # the full range is present
        labels = rng.integers(0, 10, size=n).astype(np.int64)
        entry = {
            b"batch_label": name.encode(),
            b"labels": [int(label) for label in labels],
            b"data": images.reshape(n, 3072),
            b"filenames": [f"image_{i:05d}.png".encode() for i in range(n)],
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(entry, handle, protocol=2)
        return images, labels

    train = [batch(per_batch, f"data_batch_{i}") for i in range(1, 6)]
    test_images, test_labels = batch(test, "test_batch")
    meta = {
        b"num_cases_per_batch": per_batch,
        b"label_names": [name.encode() for name in CIFAR10_LABEL_NAMES],
        b"num_vis": 3072,
    }
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump(meta, handle, protocol=2)
    train_images = np.concatenate([images for images, _ in train])
    train_labels = np.concatenate([labels for _, labels in train])
    return train_images, train_labels, test_images, test_labels


def write_faces(folder: Path, n: int, size: tuple[int, int] = (178, 218), seed: int = 0) -> None:
    """``n`` jpgs named like CelebA's, with a bright square so the crop has something to keep."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    width, height = size
    for i in range(n):
        pixels = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
        pixels[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = 255
        Image.fromarray(pixels).save(folder / f"{i + 1:06d}.jpg", quality=90)


def write_domain(folder: Path, n: int, size=(40, 30), mode="RGB", suffix=".jpg", seed=0, prefix=""):
    """``n`` images named <prefix>NNNN<suffix>, with a bright block so crops keep structure."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    width, height = size
    for i in range(n):
        pixels = rng.integers(0, 80, size=(height, width, 3), dtype=np.uint8)
        pixels[: height // 2, : width // 2] = 250
        Image.fromarray(pixels).convert(mode).save(folder / f"{prefix}{i:04d}{suffix}")


# CycleGAN small enough for a CPU test run: 16 px, 8-wide nets, one residual block, 1-layer D.
TINY_CYCLEGAN = (
    "model=cyclegan",
    "data=unpaired",
    "data.image_size=16",
    "data.load_size=18",
    "data.loader.batch_size=2",
    "data.loader.num_workers=0",
    "data.loader.pin_memory=false",
    "model.generator_ab.base_width=8",
    "model.generator_ab.num_blocks=1",
    "model.discriminator_a.base_width=8",
    "model.discriminator_a.num_layers=1",
)


# Pix2Pix small enough for a CPU test run: 32 px, 8-wide nets, a 2-layer PatchGAN.
TINY_PIX2PIX = (
    "model=pix2pix",
    "data.image_size=32",
    "model.generator.base_width=8",
    "model.discriminator.base_width=8",
    "model.discriminator.num_layers=2",
)


def write_unpaired(root: Path, a: int = 6, b: int = 4, test: bool = True) -> Path:
    """A CycleGAN-layout set: trainA jpgs (40x30), trainB pngs (30x30), small test folders."""
    write_domain(root / "trainA", a, seed=1)
    write_domain(root / "trainB", b, size=(30, 30), suffix=".png", seed=2)
    if test:
        write_domain(root / "testA", 2, seed=3)
        write_domain(root / "testB", 3, suffix=".png", seed=4)
    return root


def write_side_by_side(
    folder: Path, n: int, size: int = 32, seed: int = 0, same: bool = False, suffix: str = ".jpg"
) -> None:
    """``n`` pix2pix-layout files (width = 2 x height): a random A on the left, B on the right.

    B is A inverted with a bright block (so the halves differ and alignment can be checked), or
    A itself with ``same=True`` (then any misaligned crop or flip shows as a difference).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        a = rng.integers(0, 120, size=(size, size, 3), dtype=np.uint8)
        a[: size // 3, : size // 2] = 240
        b = a.copy() if same else 255 - a
        if not same:
            b[size // 2 :, size // 2 :] = 255
        pair = np.concatenate([a, b], axis=1)
        Image.fromarray(pair).save(
            folder / f"{i + 1}{suffix}", **({"quality": 95} if suffix == ".jpg" else {})
        )


def write_facades(root: Path, train: int = 16, test: int = 2) -> Path:
    """A pix2pix-layout set: train/ and test/ (and val/) of 64x32 side-by-side jpgs."""
    write_side_by_side(root / "train", train, seed=1)
    write_side_by_side(root / "val", test, seed=2)
    write_side_by_side(root / "test", test, seed=3)
    return root


@pytest.fixture
def svhn_root(tmp_path: Path) -> Path:
    """A data_dir holding svhn/train_32x32.mat with 256 images."""
    write_svhn(tmp_path / "svhn_root" / "svhn" / "train_32x32.mat", 256)
    return tmp_path / "svhn_root"


@pytest.fixture
def faces_root(tmp_path: Path) -> Path:
    """A data_dir holding celeba/img_align_celeba/ with 40 jpgs of 178x218."""
    write_faces(tmp_path / "faces_root" / "celeba" / "img_align_celeba", 40)
    return tmp_path / "faces_root"


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """One data_dir with MNIST, SVHN, CelebA, summer2winter and facades in their real layouts."""
    root = write_mnist(tmp_path / "data_root", train=128, test=16)
    write_svhn(root / "svhn" / "train_32x32.mat", 128)
    write_faces(root / "celeba" / "img_align_celeba", 40)
    write_unpaired(root / "summer2winter_yosemite", a=16, b=16)
    write_facades(root / "facades")
    return root


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "README.md").exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


class StepRecorder:
    """Mixin for an AdversarialModule: records which of ``recorded_nets`` moved during each D
    update and each G update, as ``events = [("D", {names}), ("G", {names}), ...]``, and in
    ``leaks`` every network left holding a gradient after an update (an update zeroes its own
    network's gradients, so any gradient left is one the other side's backward leaked)."""

    recorded_nets: tuple[str, ...] = ()

    def snapshot(self):
        self._before = {
            n: [p.clone() for p in getattr(self, n).parameters()] for n in self.recorded_nets
        }

    def moved(self):
        return {
            n
            for n in self.recorded_nets
            for b, p in zip(self._before[n], getattr(self, n).parameters(), strict=True)
            if not torch.equal(b, p)
        }

    def holding_gradients(self):
        return {
            n
            for n in self.recorded_nets
            if any(p.grad is not None for p in getattr(self, n).parameters())
        }

    def on_fit_start(self):
        self.events, self.leaks = [], []

    def discriminator_loss(self, batch):
        self.snapshot()
        return super().discriminator_loss(batch)

    def generator_loss(self, batch):
        self.events.append(("D", self.moved()))
        self.leaks += [("D", n) for n in self.holding_gradients()]
        self.snapshot()
        return super().generator_loss(batch)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.events.append(("G", self.moved()))
        self.leaks += [("G", n) for n in self.holding_gradients()]


def quiet_trainer(**kwargs):
    """A CPU Trainer without loggers, checkpoints or progress output, for in-process tests."""
    import pytorch_lightning as pl

    defaults = dict(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=1,
    )
    return pl.Trainer(**{**defaults, **kwargs})


def run_cli(
    *overrides: str, run_dir: Path, module: str = "gan_lightning", timeout: int = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m <module>`` in a subprocess from ``run_dir``'s parent.

    Training runs write under ``run_dir``; the inference commands take no Hydra run dir.
    """
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HYDRA_FULL_ERROR": "0"}
    own_dir = any(o.startswith("hydra.run.dir=") for o in overrides)
    run_dir_arg = [f"hydra.run.dir={run_dir}"] if module == "gan_lightning" and not own_dir else []
    if "-m" in overrides:  # a sweep writes under hydra.sweep.dir
        run_dir_arg = []
    # Runs score with a classifier only where a test asks for one: training it on first use
    # would add seconds to every short run (the search in tests/test_sweeps.py trains one).
    hydra_flags = any(o.startswith("-") and o != "-m" for o in overrides)  # --help, --cfg job
    if (
        module in ("gan_lightning", "gan_lightning.evaluate")
        and not hydra_flags
        and not any(
            o.startswith(("metrics.train_classifier=", "train_features")) for o in overrides
        )
    ):
        overrides = (*overrides, "metrics.train_classifier=false")
    cmd = [sys.executable, "-m", module, *run_dir_arg, *overrides]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=run_dir.parent
    )


def run_sweep(tmp_path, *overrides, timeout=300):
    """A ``-m`` sweep into ``tmp_path/multirun``; returns (result, sweep dir)."""
    sweep_dir = tmp_path / "multirun"
    result = run_cli(
        "-m",
        *overrides,
        f"hydra.sweep.dir={sweep_dir}",
        run_dir=tmp_path / "unused",
        timeout=timeout,
    )
    return result, sweep_dir
