"""Check a SLURM sweep's job shape before any job is submitted.

Lightning starts under SLURM only when the job has one task per device on every node, and
``conf/hydra/launcher/slurm.yaml`` takes nodes and GPUs from the trainer config so the two agree.
What is left to catch: a device count SLURM cannot take ("auto", -1) and launcher keys
overridden by hand so that they no longer match the trainer. Either would fail on the cluster,
after the queue wait; here it fails at once, in one line.
"""

from __future__ import annotations

import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

# launcher key -> the trainer key it must equal
SHAPE_KEYS = {"nodes": "num_nodes", "gpus_per_node": "devices", "tasks_per_node": "devices"}
SHAPE_WORDS = {"num_nodes": "nodes", "devices": "GPUs per node"}
SWEPT_SHAPE_KEYS = {"trainer", "trainer.devices", "trainer.num_nodes"}
SWEEP_FUNCTIONS = ("range(", "choice(", "glob(", "interval(")


def slurm_shape_problem(config: DictConfig) -> str | None:
    """None when the launcher is not SLURM's or the job shape is consistent."""
    launcher = config.hydra.launcher
    if not str(launcher.get("_target_", "")).endswith(".SlurmLauncher"):
        return None
    # submitit resolves the launcher once, from the config without the sweep's values: a sweep
    # over the shape would submit every job with the same (wrong) shape
    for override in config.hydra.overrides.get("task", []):
        key, _, value = str(override).lstrip("+~").partition("=")
        if key in SWEPT_SHAPE_KEYS and ("," in value or value.startswith(SWEEP_FUNCTIONS)):
            return (
                f"hydra/launcher=slurm gives every job of a sweep the same shape, so {key} "
                "cannot be swept; run one sweep per value"
            )
    trainer = config.get("trainer") or {}
    on_cpu = trainer.get("accelerator") == "cpu"
    for key, trainer_key in SHAPE_KEYS.items():
        wanted = trainer.get(trainer_key)
        if not isinstance(wanted, int) or isinstance(wanted, bool) or wanted < 1:
            return (
                f"hydra/launcher=slurm needs a whole number of {SHAPE_WORDS[trainer_key]}, but "
                f"trainer.{trainer_key}={wanted!r}; set trainer.{trainer_key}=N"
            )
        try:
            value = launcher.get(key)
        except Exception:  # a typed launcher key that cannot take the value
            value = "unreadable"
        if key == "gpus_per_node" and on_cpu:
            if value not in (0, None):
                return (
                    "trainer.accelerator=cpu, but the SLURM job asks for GPUs; set "
                    "hydra.launcher.gpus_per_node=0"
                )
            continue
        if key == "gpus_per_node" and value is None and launcher.get("gres"):
            continue  # GPUs requested through gres instead
        if value != wanted:
            return (
                f"hydra.launcher.{key}={value} but trainer.{trainer_key}={wanted}; set "
                f"trainer.{trainer_key} alone, the launcher follows it"
            )
    return None


class SlurmShapeCheck(Callback):
    """Hydra callback: runs before the sweep, exits 2 with one line on a bad job shape."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        problem = slurm_shape_problem(config)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            sys.exit(2)
