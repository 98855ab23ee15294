"""The summary of a ``-m`` sweep: one row per run, written when the last run has finished.

Each run records how it ended in its own ``status.json`` (train.py), so the summary is read
from the run folders: it works the same whichever launcher ran the jobs (in this process, in
SLURM jobs) and whichever sweeper chose them (the basic grid, Optuna).
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gan_lightning.atomic import atomic_path

log = logging.getLogger(__name__)
SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"


def collect_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per run folder (those holding ``.hydra/overrides.yaml``), in job order."""
    rows = []
    for overrides_file in sweep_dir.glob("**/.hydra/overrides.yaml"):
        run_dir = overrides_file.parent.parent
        status_file = run_dir / "status.json"
        # a run killed before train() started, or mid-run without a chance to say so
        status: dict[str, Any] = {"status": "no status"}
        if status_file.is_file():
            status = json.loads(status_file.read_text())
        rows.append(
            {
                "run": run_dir.relative_to(sweep_dir).as_posix(),
                "overrides": " ".join(OmegaConf.load(overrides_file)),
                "status": status.get("status", "unknown"),
                "error": status.get("error", ""),
                "metrics": status.get("metrics", {}),
            }
        )
    return sorted(rows, key=lambda row: _job_order(row["run"]))


def _job_order(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (sys.maxsize, name)


def write_summary(sweep_dir: Path, rows: list[dict[str, Any]]) -> Path:
    """``summary.csv`` (one column per final metric) and ``summary.json`` in the sweep folder."""
    metric_names = sorted({name for row in rows for name in row["metrics"]})
    with atomic_path(sweep_dir / SUMMARY_CSV) as partial:
        with open(partial, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["run", "status", "overrides", *metric_names, "error"])
            for row in rows:
                metrics = [row["metrics"].get(name, "") for name in metric_names]
                writer.writerow(
                    [row["run"], row["status"], row["overrides"], *metrics, row["error"]]
                )
    with atomic_path(sweep_dir / SUMMARY_JSON) as partial:
        Path(partial).write_text(json.dumps(rows, indent=2) + "\n")
    return sweep_dir / SUMMARY_CSV


class SweepSummary(Callback):
    """Hydra callback (``hydra.callbacks``): rewrites the summary after every run of a local
    sweep, so a sweep that ends early (every Optuna trial failed) still leaves one; at the end
    of the sweep, exits with status 1 if any run did not complete."""

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        # only where jobs run one after another in this process: parallel SLURM jobs would race
        in_process = str(config.hydra.launcher.get("_target_", "")).endswith(".BasicLauncher")
        if config.hydra.mode == RunMode.MULTIRUN and in_process:
            written = self._write(config)
            if written is not None:
                _stop_a_search_without_results(config, *written)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        written = self._write(config)
        if written is None:  # no job was launched
            return
        path, rows = written
        bad = [row for row in rows if row["status"] != "completed"]
        print(f"sweep: {len(rows) - len(bad)} of {len(rows)} runs completed; summary: {path}")
        for row in bad:
            print(f"  run {row['run']} ({row['overrides']}): {row['status']} {row['error']}")
        if bad:
            sys.exit(1)

    @staticmethod
    def _write(config: DictConfig) -> tuple[Path, list[dict[str, Any]]] | None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return None
        rows = collect_runs(sweep_dir)
        return write_summary(sweep_dir, rows), rows


def _stop_a_search_without_results(config: DictConfig, summary: Path, rows: list[dict]) -> None:
    """After an Optuna search's last trial: when none completed, one line saying why, exit 1.
    (The sweeper would next ask Optuna for the best trial and end in its traceback, "No
    trials are completed yet".)"""
    trials = config.hydra.sweeper.get("n_trials")
    if trials is None or int(config.hydra.job.num) != int(trials) - 1:
        return
    if any(row["status"] == "completed" for row in rows):
        return
    first = next((row for row in rows if row["error"]), None)
    why = f"; the first: run {first['run']}: {first['error'][:300]}" if first else ""
    print(
        f"error: no trial of the search completed ({len(rows)} ran){why}; summary: {summary}",
        file=sys.stderr,
    )
    sys.exit(1)
