"""Shared fixtures: tiny data sets in the real on-disk formats, and a CLI runner."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


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


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """A data_dir holding MNIST/raw/ with 256 train and 64 test images in IDX format."""
    raw = tmp_path / "mnist_root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n, seed in (("train", 256, 0), ("t10k", 64, 1)):
        images, labels = make_digit_like_images(n, seed=seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return raw.parents[1]


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "README.md").exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def run_cli(
    *overrides: str, run_dir: Path, module: str = "gan_lightning", timeout: int = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m gan_lightning`` in a subprocess, outputs under ``run_dir``."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HYDRA_FULL_ERROR": "0"}
    cmd = [sys.executable, "-m", module, f"hydra.run.dir={run_dir}", *overrides]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=run_dir.parent
    )
