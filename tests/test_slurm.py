"""``hydra/launcher=slurm``: the job shape SLURM receives, refusals, and a submitit job run here.

No SLURM cluster is reachable from the tests: a stand-in ``sbatch`` records the script submitit
writes and refuses the job, which is as far as a submission goes without a cluster. The
``submitit_local`` launcher then runs one real job through submitit's local executor.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from tests.conftest import run_cli, run_sweep

SHAPE = ("trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2", "hydra.launcher.partition=gpu")


def fake_slurm(bin_dir: Path) -> Path:
    """``sbatch`` that copies the submitted script next to itself and fails; ``srun`` exists."""
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f'#!/bin/sh\ncp "$1" {bin_dir}/submitted.sh\necho "no cluster" >&2\nexit 1\n')
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(stat.S_IRWXU)
    return bin_dir / "submitted.sh"


def run_with_path(bin_dir: Path, *overrides: str, tmp_path: Path):
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{bin_dir}:{old}"
    try:
        return run_cli("-m", *overrides, run_dir=tmp_path / "unused", timeout=120)
    finally:
        os.environ["PATH"] = old


def test_slurm_launcher_composes_its_shape_from_the_trainer(tmp_path):
    result = run_cli("hydra/launcher=slurm", *SHAPE, "--cfg", "all", "--resolve", run_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    launcher = result.stdout.split("  launcher:\n", 1)[1].split("  sweeper:\n", 1)[0]
    for line in (
        "nodes: 2",
        "gpus_per_node: 4",
        "tasks_per_node: 4",
        "partition: gpu",
        "timeout_min: 240",
        "max_num_timeout: 3",
        "SlurmLauncher",
    ):
        assert line in launcher, launcher


def test_the_submitted_script_asks_slurm_for_one_task_per_gpu(tmp_path):
    script = fake_slurm(tmp_path / "bin")
    sweep_dir = tmp_path / "multirun"
    result = run_with_path(
        tmp_path / "bin",
        "hydra/launcher=slurm",
        *SHAPE,
        "hydra.launcher.timeout_min=30",
        f"hydra.sweep.dir={sweep_dir}",
        tmp_path=tmp_path,
    )
    assert result.returncode != 0 and "no cluster" in result.stderr  # our sbatch refused it
    lines = set(script.read_text().splitlines())
    for directive in (
        "#SBATCH --nodes=2",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=30",
        "#SBATCH --signal=USR2@120",
    ):
        assert directive in lines, sorted(lines)
    assert any(line.startswith("srun ") for line in lines)


def test_a_job_shape_slurm_cannot_take_is_refused_before_submission(tmp_path):
    script = fake_slurm(tmp_path / "bin")
    for overrides, message in (
        (("trainer=ddp",), "trainer.devices='auto'; set trainer.devices=N"),
        (("hydra.launcher.nodes=3",), "hydra.launcher.nodes=3 but trainer.num_nodes=1"),
        (("trainer=ddp", "trainer.devices=2,4"), "trainer.devices cannot be swept"),
        (("trainer=cpu",), "set hydra.launcher.gpus_per_node=0"),
    ):
        result = run_with_path(
            tmp_path / "bin", "hydra/launcher=slurm", *overrides, tmp_path=tmp_path
        )
        assert result.returncode == 2
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        assert not script.exists()  # nothing was submitted


def test_one_job_runs_through_submitits_local_executor(tmp_path):
    result, sweep_dir = run_sweep(
        tmp_path,
        "hydra/launcher=submitit_local",
        "seed=7",
        "debug=smoke",
        "callbacks.evaluation=null",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = sweep_dir / "0"
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    logs = list((sweep_dir / ".submitit").glob("*/*_0_log.out"))
    assert logs, "submitit kept no job log"  # the job ran in submitit's own process
    assert "sweep: 1 of 1 runs completed" in result.stdout


def test_a_cpu_job_asks_slurm_for_no_gpu(tmp_path):
    script = fake_slurm(tmp_path / "bin")
    result = run_with_path(
        tmp_path / "bin",
        "hydra/launcher=slurm",
        "trainer=cpu",
        "hydra.launcher.gpus_per_node=0",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
        tmp_path=tmp_path,
    )
    assert "no cluster" in result.stderr  # it got as far as sbatch
    lines = script.read_text().splitlines()
    assert "#SBATCH --ntasks-per-node=1" in lines
    assert [line for line in lines if "gpu" in line] == ["#SBATCH --gpus-per-node=0"]
