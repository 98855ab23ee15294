"""compose -> instantiate -> fit: the one place that wires objects together.

Every object comes from a ``_target_`` node of the composed config; this module only decides the
order, reports problems as one line, and records how the run ended in ``status.json``.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from gan_lightning.callbacks.sample_grid import SampleGridCallback
from gan_lightning.config_check import check_config
from gan_lightning.errors import UserError
from gan_lightning.printing import print_config_tree

log = logging.getLogger(__name__)


def build(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` with constructor errors turned into one line naming the key."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__ or error
        if isinstance(cause, UserError):
            raise cause from None
        raise UserError(f"{where}: {cause}") from None


def train(cfg: DictConfig) -> float | None:
    """Train one run; returns ``cfg.optimized_metric`` from the final metrics when it is set."""
    check_config(cfg)
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
    print_config_tree(cfg)

    datamodule = build(cfg.data, "data")
    if hasattr(datamodule, "validate"):
        datamodule.validate()
    model = build(cfg.model, "model")
    model.run_config = OmegaConf.to_container(cfg, resolve=True)
    callbacks = [build(c, f"callbacks.{k}") for k, c in (cfg.get("callbacks") or {}).items() if c]
    loggers = [build(c, f"logger.{k}") for k, c in (cfg.get("logger") or {}).items() if c]
    trainer: pl.Trainer = build(
        cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False
    )

    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    _report_outputs(trainer, callbacks)
    _write_status(cfg, "completed", metrics=metrics)
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        raise UserError(
            f"optimized_metric={name!r} was not logged; logged: {', '.join(sorted(metrics))}"
        )
    return metrics[name]


def _report_outputs(trainer: pl.Trainer, callbacks: list[Any]) -> None:
    for callback in callbacks:
        if isinstance(callback, SampleGridCallback):
            print(f"samples:     {callback.output_dir}")
    checkpoint = getattr(trainer.checkpoint_callback, "last_model_path", "")
    print(f"checkpoints: {checkpoint or 'none'}")


def _write_status(cfg: DictConfig, status: str, **fields: Any) -> None:
    """status.json tells finished runs from crashed or partial ones."""
    try:
        output_dir = Path(cfg.paths.output_dir)
    except Exception:  # the config itself is broken: there is no run folder to mark
        return
    if output_dir.is_dir():
        text = json.dumps({"status": status, **fields}, indent=2, sort_keys=True) + "\n"
        (output_dir / "status.json").write_text(text)


@hydra.main(version_base="1.3", config_path="pkg://gan_lightning.conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        return train(cfg)
    except UserError as error:
        message = str(error)
        _write_status(cfg, "failed", error=message)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except BaseException as error:
        _write_status(cfg, "failed", error=f"{type(error).__name__}: {error}")
        raise


if __name__ == "__main__":
    main()
