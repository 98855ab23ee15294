"""compose -> instantiate -> fit: the one place that wires objects together.

Every object comes from a ``_target_`` node of the composed config; this module only decides the
order, reports problems as one line, and records how the run ended in ``status.json``.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.loggers import CSVLogger, WandbLogger
from pytorch_lightning.trainer.states import TrainerStatus
from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from gan_lightning.aliases import expand_short_keys
from gan_lightning.callbacks.cadence import EpochCadenceCheck
from gan_lightning.callbacks.interruption import InterruptionCheckpoint
from gan_lightning.callbacks.sample_grid import SampleGridCallback
from gan_lightning.checkpoints import check_resume, load_checkpoint, resolve_resume
from gan_lightning.commands import write_json_atomic
from gan_lightning.config_check import check_config
from gan_lightning.distributed import check_distributed_setup
from gan_lightning.errors import SettingError, TrainingDiverged, UserError
from gan_lightning.noise import quiet_known_noise, quiet_resume
from gan_lightning.precision import precision_arguments
from gan_lightning.printing import print_config_tree
from gan_lightning.renamed import upgrade_overrides
from gan_lightning.rng import choose_seed
from gan_lightning.training.checkpoint_state import CHECKPOINT_KEY
from gan_lightning.training.lightning_adapter import keep_csv_rows_on_resume

log = logging.getLogger(__name__)


def build(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` with constructor errors turned into one line naming the key."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__ or error
        if isinstance(cause, UserError):
            raise cause from None
        nested = re.search(r"full_key: (\S+)", str(error))  # a node inside this one failed
        key = nested.group(1) if nested else where
        if isinstance(cause, SettingError):
            raise UserError(f"{key}.{cause.key}: {cause.problem}") from None
        raise UserError(f"{key}: {cause}") from None


def train(cfg: DictConfig) -> float | None:
    """Train one run; returns ``cfg.optimized_metric`` from the final metrics when it is set."""
    check_config(cfg)
    _write_status(cfg, "running")  # replaces the "completed" of an earlier run in this folder
    ckpt_path = resolve_resume(cfg.get("ckpt_path"), cfg.paths.output_dir)
    resumed = load_checkpoint(ckpt_path) if ckpt_path is not None else None
    _seed(cfg, ckpt_path, resumed)
    rank_zero_only(print_config_tree)(cfg)

    datamodule = build(cfg.data, "data")
    if hasattr(datamodule, "validate"):
        datamodule.validate()
    model = build(cfg.model, "model")
    model.run_config = OmegaConf.to_container(cfg, resolve=True)
    if ckpt_path is not None:
        check_resume(ckpt_path, resumed, model)  # before anything else is built or printed
        del resumed  # Lightning loads it again, onto the right devices
        log.info("resuming from %s", ckpt_path)
    configured = {k: c for k, c in (cfg.get("callbacks") or {}).items() if c}
    callbacks = [build(c, f"callbacks.{k}") for k, c in configured.items()]
    cadences = {f"callbacks.{k}": int(c.every_n_epochs) for k, c in configured.items()
                if c.get("every_n_epochs")}  # fmt: skip
    if cadences:
        callbacks.append(EpochCadenceCheck(cadences))
    loggers = [build(c, f"logger.{k}") for k, c in (cfg.get("logger") or {}).items() if c]
    if ckpt_path is not None:  # continue this folder's metrics.csv, as a requeued job must
        for logger in loggers:
            if isinstance(logger, CSVLogger):
                keep_csv_rows_on_resume(logger)
    trainer: pl.Trainer = build(
        cfg.trainer,
        "trainer",
        callbacks=callbacks,
        logger=loggers or False,
        **precision_arguments(cfg.trainer),  # fp16: one gradient scaler per side
    )
    check_distributed_setup(trainer, bool(cfg.trainer.get("sync_batchnorm")), _multirun())
    for logger in trainer.loggers:  # the resolved config: W&B's run config, CSV's hparams.yaml
        logger.log_hyperparams(model.run_config)

    try:
        with quiet_resume(ckpt_path is not None):
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except (SystemExit, SIGTERMException):
        _raise_if_interrupted(trainer, callbacks)
        raise
    except TrainingDiverged as error:
        last = _checkpoint_path(trainer)
        kept = f"; last good checkpoint: {last}" if last else "; no checkpoint was saved yet"
        raise TrainingDiverged(f"{error}{kept}") from None
    finally:
        _finish_wandb(loggers)

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    _report_outputs(trainer, callbacks)
    _write_status(cfg, "completed", metrics=metrics)
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        raise UserError(
            f"optimized_metric={name!r} was not logged; logged: {', '.join(sorted(metrics))}"
            + _evaluation_schedule(cfg, trainer, name)
        )
    return metrics[name]


def _seed(cfg: DictConfig, ckpt_path: str | None, resumed: dict[str, Any] | None) -> None:
    """Seed the run. ``seed=null`` gets a seed too, written into the run's config (so the
    checkpoint, the loggers and a resume know it) and logged, so the run can be repeated."""
    given = cfg.get("seed")
    recorded = resumed[CHECKPOINT_KEY]["config"].get("seed") if resumed is not None else None
    seed = choose_seed(given, recorded)
    pl.seed_everything(seed, workers=True, verbose=False)
    say = rank_zero_only(log.info)
    if given is not None:
        if recorded is not None and int(recorded) != int(given):
            rank_zero_only(log.warning)(
                "seed=%s, but %s was written by a run with seed=%s: the rest of its epoch is "
                "shuffled in another order than that run's (resume with seed=%s to continue it "
                "exactly)", given, ckpt_path, recorded, recorded,
            )  # fmt: skip
        return
    with open_dict(cfg):
        cfg.seed = seed
    if recorded is not None:
        say(f"seed=null: resuming with {ckpt_path}'s seed, {seed}")
    elif resumed is not None:
        say(f"seed=null: {ckpt_path} recorded no seed; this run's seed is {seed}")
    else:
        say(f"seed=null: this run's seed is {seed} (seed={seed} repeats it)")


def _evaluation_schedule(cfg: DictConfig, trainer: pl.Trainer, name: str) -> str:
    """Why an ``eval/`` metric is missing: the callback is off, or it never came due."""
    if not name.startswith("eval/"):
        return ""
    evaluation = (cfg.get("callbacks") or {}).get("evaluation")
    if not evaluation:
        return "; the evaluation callback is off (callbacks.evaluation=null)"
    every = int(evaluation.get("every_n_epochs", 1))
    return (
        f"; the evaluation callback logs eval/* at the end of every {every} epoch(s) "
        f"(callbacks.evaluation.every_n_epochs={every}) and this run ended at step "
        f"{trainer.global_step} (trainer.current_epoch={trainer.current_epoch}): train longer "
        "(trainer.max_epochs, trainer.max_steps) or evaluate more often"
    )


class Interrupted(Exception):
    """SIGINT / SIGTERM stopped the run after a checkpoint was saved."""

    def __init__(
        self,
        signal_name: str,
        checkpoint: Path | None,
        requeue: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.checkpoint = checkpoint
        self.requeue = requeue  # submitit's requeue of this SLURM job (it exits)


def _raise_if_interrupted(trainer: pl.Trainer, callbacks: list[Any]) -> None:
    if trainer.state.status != TrainerStatus.INTERRUPTED:
        return
    for callback in callbacks:
        if isinstance(callback, InterruptionCheckpoint) and callback.signal_name:
            raise Interrupted(callback.signal_name, callback.saved, callback.requeue) from None
    raise Interrupted("SIGINT" if isinstance(sys.exc_info()[1], SystemExit) else "SIGTERM", None)


def _report_outputs(trainer: pl.Trainer, callbacks: list[Any]) -> None:
    if not trainer.is_global_zero:
        return
    for callback in callbacks:  # a grid's cadence may not have come due in a short run
        if isinstance(callback, SampleGridCallback) and Path(callback.output_dir).is_dir():
            print(f"samples:     {callback.output_dir}")
    print(f"checkpoints: {_checkpoint_path(trainer) or 'none'}")


def _checkpoint_path(trainer: pl.Trainer) -> str:
    """The newest checkpoint the run wrote ("" when none)."""
    callback = trainer.checkpoint_callback
    path = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
    return path if path and Path(path).is_file() else ""


def _finish_wandb(loggers: list[Any]) -> None:
    """Close the W&B run: Lightning leaves it open, and the next run of a sweep (same process)
    would log into it."""
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=0 if sys.exc_info()[0] is None else 1)


def _multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _write_status(cfg: DictConfig, status: str, **fields: Any) -> None:
    """status.json tells finished runs from crashed or partial ones."""
    try:
        output_dir = Path(cfg.paths.output_dir)
    except Exception:  # the config itself is broken: there is no run folder to mark
        return
    if output_dir.is_dir() and rank_zero_only.rank == 0:
        seed = cfg.get("seed")  # seed=null: the one drawn, once train() has drawn it
        seeded = {"seed": seed} if seed is not None else {}
        write_json_atomic(output_dir / "status.json", {"status": status, **seeded, **fields})


def check_run_dir(argv: list[str]) -> None:
    """Hydra creates the run folder before any of our code runs and reports a failure as a
    traceback; check the folder given (or ./outputs) can be created, and say so in one line."""
    # hparams_search's config sets hydra.mode=MULTIRUN, so -m may be left out
    multirun = bool({"-m", "--multirun"} & set(argv)) or any(
        a.startswith("hparams_search=") for a in argv
    )
    key = "hydra.sweep.dir=" if multirun else "hydra.run.dir="
    given = [a.split("=", 1)[1] for a in argv if a.startswith(key)]
    target = Path(given[-1] if given else ("multirun" if multirun else "outputs"))
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is a file"
    elif not os.access(existing, os.W_OK):
        problem = f"{existing} is not writable"
    if problem:
        print(
            f"error: cannot create the run folder {target}: {problem}; choose another "
            f"{key.rstrip('=')}",
            file=sys.stderr,
        )
        sys.exit(2)


@hydra.main(version_base="1.3", config_path="pkg://gan_lightning.conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    quiet_known_noise()  # each job of a sweep comes through here, launched or not
    try:
        return train(cfg)
    except UserError as error:  # TrainingDiverged included
        _write_status(cfg, "failed", error=str(error))
        print(f"error: {error}", file=sys.stderr)
        if _multirun():  # the other runs of the sweep go on; the summary lists this one
            return None  # not a number: Optuna records the trial as failed
        sys.exit(error.exit_status)
    except Interrupted as stop:  # also ends a sweep: Ctrl-C means stop everything
        where = f"saved {stop.checkpoint}; resume with ckpt_path=" if stop.checkpoint else ""
        resume = f"{where}{stop.checkpoint}" if stop.checkpoint else "no checkpoint saved"
        _write_status(
            cfg,
            "interrupted",
            signal=stop.signal_name,
            checkpoint=str(stop.checkpoint),
            requeued=stop.requeue is not None,
        )
        print(f"interrupted by {stop.signal_name}: {resume}", file=sys.stderr)
        if stop.requeue is not None:
            print("requeueing this SLURM job into the same run folder", file=sys.stderr)
            stop.requeue()  # submitit: scontrol requeue, then exit
        sys.exit(128 + signal.Signals[stop.signal_name].value)  # as a shell reports it
    except BaseException as error:
        _write_status(cfg, "failed", error=f"{type(error).__name__}: {error}")
        if not (isinstance(error, Exception) and _multirun()):
            raise
        log.exception("run failed")  # a crash ends this run only; the sweep goes on
        return None


def cli() -> None:
    """``python -m gan_lightning`` and the ``gan-lightning`` script: renamed keys are
    upgraded, short toolkit names expanded and the run folder checked before Hydra sees the
    command line."""
    sys.argv[1:] = expand_short_keys(upgrade_overrides(sys.argv[1:]))
    check_run_dir(sys.argv[1:])
    main()


if __name__ == "__main__":
    cli()
