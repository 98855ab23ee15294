"""Every use of a private Lightning name, so that a Lightning upgrade touches this file only.

Each function says what it needs from Lightning; ``tests/test_adversarial.py``,
``tests/test_performance.py`` and ``tests/test_reliability.py`` fail when one of them stops
doing it. (``noise.py`` names one private Lightning module as text, the origin of a warning
it filters; it imports nothing private.)
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.plugins.precision import Precision
from pytorch_lightning.profilers import PassThroughProfiler
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import Tensor

from gan_lightning.atomic import atomic_path

# What Lightning dispatches around ``manual_backward`` and ``optimizer.step()`` besides the
# backward and the step themselves (see ``dispatch_is_a_no_op``).
UPDATE_HOOKS = ("backward", "on_before_backward", "on_after_backward", "on_before_optimizer_step")


def attached_trainer(module: pl.LightningModule) -> pl.Trainer | None:
    """The trainer, or None for a module used on its own (``module.trainer`` raises then)."""
    return module._trainer


def is_logging_step(trainer: pl.Trainer) -> bool:
    """Whether ``self.log`` would write step metrics now (every ``log_every_n_steps``)."""
    return trainer._logger_connector.should_update_logs


def publish_step_metrics(
    trainer: pl.Trainer, window: dict[str, Tensor], progress: dict[str, Tensor]
) -> None:
    """What ``self.log(on_step=True)`` does with a window of means, without its per-key cost:
    the loggers get it (numbered as Lightning numbers step metrics, with "epoch"), it lands in
    ``callback_metrics`` (status.json, sweeps, Optuna) and ``progress`` in the progress bar."""
    connector = trainer._logger_connector
    connector.log_metrics(window)
    connector._callback_metrics.update({**window, **progress})
    connector._progress_bar_metrics.update({k: float(v) for k, v in progress.items()})


def dispatch_is_a_no_op(module: pl.LightningModule, trainer: pl.Trainer) -> bool:
    """Whether Lightning's work around each backward and step would only call hooks that do
    nothing: one device, full precision, no profiler, and neither the module nor any callback
    overriding ``UPDATE_HOOKS``. Anything else (DDP's backward preparation, AMP's scaling, a
    callback's hook) must take Lightning's path."""
    if type(trainer.strategy) is not SingleDeviceStrategy:
        return False
    if type(trainer.precision_plugin) is not Precision:
        return False
    if type(trainer.profiler) is not PassThroughProfiler:
        return False
    return not any(
        is_overridden(hook, module, pl.LightningModule)
        or any(is_overridden(hook, callback, pl.Callback) for callback in trainer.callbacks)
        for hook in UPDATE_HOOKS
    )


def unwrapped_optimizer(optimizer: Any) -> Any:
    """The torch optimizer inside a ``LightningOptimizer`` (or the optimizer itself)."""
    return getattr(optimizer, "_optimizer", optimizer)


def run_after_closure_hooks(plugin: Any, model: pl.LightningModule, optimizer: Any) -> None:
    """What a precision plugin does after the closure: ``on_before_optimizer_step`` hooks and
    Lightning's gradient clipping, as its own ``optimizer_step`` would."""
    plugin._after_closure(model, optimizer)


def step_without_dispatch(optimizer: Any) -> None:
    """The wrapped optimizer's own step, with Lightning's step counting (``global_step``)."""
    optimizer._on_before_step()
    optimizer.optimizer.step()
    optimizer._on_after_step()


def ran_to_epoch_end(trainer: pl.Trainer) -> bool:
    """Whether the epoch ending now ran through its last batch, rather than being cut by
    ``max_steps`` or a stop (the condition of Lightning's own epoch-interval scheduler steps)."""
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def resume_where_the_batches_stopped(checkpoint: dict[str, Any]) -> None:
    """Rewrite a checkpoint's loop progress so a resume continues at the batch after the last
    one trained, whatever wrote it.

    A step-based resume (``max_steps``) always restarts mid-epoch in Lightning, and from a
    checkpoint written after an epoch's last batch (at the epoch's end, or every N steps) it
    runs an extra batch or skips an epoch; so such a checkpoint becomes the start of the next
    epoch: every epoch counter at the epochs started, no batch of the new epoch done, no loader
    position. A checkpoint written when ``max_steps`` cut an epoch counts that epoch as
    processed, and a resume with ``max_epochs`` would skip the rest of it: it becomes mid-epoch,
    as a checkpoint written every N steps or on a signal is.
    """
    fit_loop = checkpoint.get("loops", {}).get("fit_loop")
    if not fit_loop or "epoch_progress" not in fit_loop:
        return
    epochs = fit_loop["epoch_progress"]
    batches = fit_loop["epoch_loop.batch_progress"]
    if batches.get("is_last_batch"):
        for counts in epochs.values():
            counts.update(processed=counts["started"], completed=counts["started"])
        total = batches["total"]
        if total["completed"] < total["processed"]:  # written in on_train_batch_end
            fit_loop["epoch_loop.state_dict"]["_batches_that_stepped"] += 1
            total["completed"] = total["processed"]
        batches["current"] = dict.fromkeys(batches["current"], 0)
        batches["is_last_batch"] = False
        fit_loop["state_dict"]["combined_loader"] = []
    else:
        for counts in epochs.values():
            counts["processed"] = counts["completed"]


def stop_after_this_batch(trainer: pl.Trainer) -> None:
    """Stop as Lightning stops on SIGTERM: at the end of the current batch, agreed by every DDP
    rank, with ``SIGTERMException`` raised through the callbacks' ``on_exception``."""
    trainer._signal_connector.received_sigterm = True


class _ResumedMetricsWriter(ExperimentWriter):
    """A CSV writer that keeps the rows already in ``metrics.csv``, except those the resumed run
    logs again: the ones at or after its first new step (logged after the checkpoint it resumed
    from). Lightning's own writer deletes the file when it opens a folder that has one."""

    def __init__(self, log_dir: str) -> None:
        self._trim_pending = True
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        """Where Lightning's writer deletes the old file; this one keeps it."""

    def save(self) -> None:
        if self._trim_pending and self.metrics:
            self._trim_pending = False
            self._keep_rows_before(min(int(row["step"]) for row in self.metrics))
        super().save()

    def _keep_rows_before(self, first_new_step: int) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            kept = [row for row in reader if _step_of(row) < first_new_step]
        with atomic_path(path) as partial, open(partial, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(kept)
        self.metrics_keys = header


def _step_of(row: dict[str, Any]) -> float:
    """A row's step; infinite (so dropped) for a line cut short by a killed process, which has
    fewer fields than the header."""
    if None in row.values():
        return float("inf")
    try:
        return int(row["step"])
    except ValueError:
        return float("inf")


def keep_csv_rows_on_resume(logger: CSVLogger) -> None:
    """Make a CSV logger continue the ``metrics.csv`` of the run folder it resumes in
    (``ckpt_path=last``) instead of starting it afresh. Call before anything is logged."""
    logger._experiment = _ResumedMetricsWriter(logger.log_dir)
