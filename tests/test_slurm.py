"""``hydra/launcher=slurm``: the job shape SLURM receives, refusals, and a submitit job run here.

No SLURM cluster is reachable from the tests: a stand-in ``sbatch`` records the script submitit
writes and refuses the job, which is as far as a submission goes without a cluster. The
``submitit_local`` launcher then runs one real job through submitit's local executor.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

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


JOB_ID = "4242"
STAND_IN_SLURM = {
    # sbatch: keep the script and start it in the background as job 4242
    "sbatch": """
import shutil
shutil.copy(sys.argv[-1], BIN / "job.sh")
log("sbatch")
start_job_in_background()
print("Submitted batch job 4242")
""",
    # the job: SLURM's environment for one task, then the script
    "start_job": """
import os, subprocess, sys, time
old = BIN / "job.pid"
while old.exists():  # a requeued job starts once the previous process has ended
    try:
        os.kill(int(old.read_text() or 0), 0)
        time.sleep(0.1)
    except (OSError, ValueError):
        break
old.unlink(missing_ok=True)
env = {**os.environ, "SLURM_JOB_ID": "4242", "SLURM_JOBID": "4242", "SLURM_PROCID": "0",
       "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NTASKS": "1", "SLURM_NNODES": "1",
       "SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_NODELIST": "localhost", "SLURM_JOB_NAME": "train"}
log("start")
subprocess.run(["bash", str(BIN / "job.sh")], env=env)
""",
    # srun: one task, %j and %t filled in, once submitit has put the job's pickle in place
    "srun": """
import os, sys, time
from pathlib import Path
args = [a.replace("%j", "4242").replace("%t", "0") for a in sys.argv[1:]]
files = {}
while args[0].startswith("--"):
    flag = args.pop(0)
    if flag in ("--output", "--error"):
        files[flag] = args.pop(0)
folder = Path(args[-1])
while not (folder / "4242_submitted.pkl").exists():
    time.sleep(0.1)
(BIN / "job.pid").write_text(str(os.getpid()))
out = os.open(files["--output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
err = os.open(files["--error"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
os.dup2(out, 1)
os.dup2(err, 2)
os.execv(args[0], args)
""",
    # scontrol requeue 4242: record it and start the job again
    "scontrol": """
log(" ".join(["scontrol", *sys.argv[1:]]))
start_job_in_background()
""",
    "sacct": 'print("JobID|State|NodeList")',  # no state known: submitit waits for the result
}


def stand_in_slurm(bin_dir: Path) -> None:
    bin_dir.mkdir()
    header = (
        f"#!{sys.executable}\nfrom pathlib import Path\nBIN = Path({str(bin_dir)!r})\n"
        "import subprocess, sys\n"
        "def log(line):\n"
        "    with open(BIN / 'calls.log', 'a') as f:\n"
        "        f.write(line + '\\n')\n"
        "def start_job_in_background():  # not holding our output open: the caller reads it\n"
        "    subprocess.Popen([sys.executable, str(BIN / 'start_job')], start_new_session=True,\n"
        "                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,\n"
        "                     stderr=subprocess.DEVNULL)\n"
    )
    for name, body in STAND_IN_SLURM.items():
        (bin_dir / name).write_text(header + body)
        (bin_dir / name).chmod(stat.S_IRWXU)


@pytest.mark.slow  # two job starts and a run of 8 short epochs: about 35 s
def test_a_slurm_job_signalled_before_its_time_limit_saves_requeues_and_resumes(tmp_path):
    """The signal submitit asks SLURM for (USR2, signal_delay_s before the limit) reaches the
    training job: it finishes the batch, saves last.ckpt, requeues itself through scontrol, and
    the requeued job (the same command, in the same run folder) resumes from the saved step."""
    bin_dir, sweep_dir = tmp_path / "bin", tmp_path / "multirun"
    stand_in_slurm(bin_dir)
    run_dir = sweep_dir / "0"
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{bin_dir}:{old}"
    try:
        sweep = subprocess.Popen(
            [sys.executable, "-m", "gan_lightning", "-m", "hydra/launcher=slurm",
             "trainer.accelerator=cpu", "hydra.launcher.gpus_per_node=0",
             f"hydra.sweep.dir={sweep_dir}", "ckpt_path=last", "trainer.max_epochs=8",
             "callbacks.evaluation=null", "metrics.train_classifier=false"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
    finally:
        os.environ["PATH"] = old
    try:
        deadline = time.time() + 120
        while not (run_dir / "checkpoints" / "last.ckpt").exists():
            assert sweep.poll() is None, sweep.communicate()[1][-3000:]
            assert time.time() < deadline, "the job wrote no checkpoint"
            time.sleep(0.2)
        os.kill(int((bin_dir / "job.pid").read_text()), signal.SIGUSR2)
        _, stderr = sweep.communicate(timeout=240)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, stderr[-3000:]
    calls = (bin_dir / "calls.log").read_text().split()
    assert calls == ["sbatch", "start", "scontrol", "requeue", JOB_ID, "start"]
    logs = "".join(p.read_text() for p in (sweep_dir / ".submitit").rglob("*_log.err"))
    assert "interrupted by SIGUSR2: saved" in logs and "requeueing this SLURM job" in logs
    resumed_at = re.findall(r"resuming at step (\d+)", (run_dir / "train.log").read_text())
    assert len(resumed_at) == 1 and 0 < int(resumed_at[0]) < 8 * 56  # inside the run
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert final["global_step"] == 8 * 56  # the requeued job finished the run
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
