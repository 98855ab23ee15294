"""The wheel carries the configs, so the CLI works when installed non-editable, from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def test_every_subpackage_is_listed_in_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    listed = set(
        tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(path.relative_to(REPO_ROOT).parent.parts)
        for path in (REPO_ROOT / "gan_lightning").rglob("__init__.py")
    }
    found.add("gan_lightning.conf")
    assert found == listed


def test_non_editable_wheel_runs_from_another_directory(tmp_path):
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheel_dir), str(REPO_ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = wheel_dir.glob("gan_lightning-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert (target / "gan_lightning" / "conf" / "model" / "gan.yaml").exists()
    # Only the wheel's copy is importable: the repository is not on the path.
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"}
    code = "import gan_lightning, sys; print(gan_lightning.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert where.stdout.startswith(str(target)), where.stdout + where.stderr
    result = subprocess.run(
        [sys.executable, "-m", "gan_lightning", "debug=fast_dev_run",
         f"hydra.run.dir={tmp_path}/run"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / "samples" / "epoch_000.png").exists()
