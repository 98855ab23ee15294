"""The default job, run in full, makes digits of most classes (slow: about 1.5 minutes)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, run_cli


@pytest.mark.slow
def test_default_job_makes_digits_of_most_classes(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(run_dir=run_dir, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (run_dir / "samples" / "epoch_119.png").exists()
    check = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "experiments" / "default_job" / "check_digits.py"),
            str(run_dir / "checkpoints" / "last.ckpt"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    covered = int(re.search(r"classes covered (\d+)/10", check.stdout).group(1))
    confident = int(re.search(r"confident (\d+)%", check.stdout).group(1))
    assert covered >= 8, check.stdout
    assert confident >= 50, check.stdout
