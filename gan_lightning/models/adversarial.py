"""The one adversarial training step shared by every variant.

Manual optimization: each training batch makes one discriminator update, and every ``d_steps``-th
batch is followed by one generator update. So k D updates per G update each see a fresh real
minibatch, as in Goodfellow et al. (2014), Algorithm 1.

Lightning counts ``trainer.global_step`` once per optimizer step, so a batch costs 1 step, or 2
when the generator also steps: with ``d_steps=1``, ``trainer.max_steps=1000`` is 500 batches.

Variants implement ``discriminator_loss`` / ``generator_loss`` (and the parameter groups when they
have more than one network per side, as CycleGAN does); nothing else about the loop changes.

The step reads no tensor on the host between logging windows: on a GPU a host read waits for
every queued kernel, so the CPU could not queue the next update's work meanwhile (and under DDP
each agreed decision is one more all-reduce). Non-finite losses are therefore checked in
batches (``_check_losses``), except under ``on_nonfinite=skip``, which must decide before
each update.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import Precision
from pytorch_lightning.profilers import PassThroughProfiler
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import Tensor, nn
from torch.optim import Optimizer

from gan_lightning import __version__
from gan_lightning.errors import TrainingDiverged, UserError
from gan_lightning.losses import AdversarialLoss
from gan_lightning.models.running_means import RunningMeans
from gan_lightning.rng import (
    collect_rng_state,
    gather_rng_states,
    restore_rng_state,
    seed_for_rank,
)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], Any]

CHECKPOINT_KEY = "gan_lightning"
# Under fp16 a NaN gradient never reaches the weights: the scaler skips the step and halves its
# scale. 30 halvings from 2**16 mean every step has been skipped for a long time: diverged.
MIN_LOSS_SCALE = 2.0**-14
NONFINITE_ACTIONS = ("stop", "skip")
# Losses awaiting the batched finiteness check are checked at every logging window, at an
# epoch's end, before a checkpoint is written, and at the latest after this many updates.
MAX_UNCHECKED_LOSSES = 200
# What Lightning dispatches around ``manual_backward`` and ``optimizer.step()`` besides the
# backward and the step themselves (see ``_dispatch_is_a_no_op``).
UPDATE_HOOKS = ("backward", "on_before_backward", "on_after_backward", "on_before_optimizer_step")
log = logging.getLogger(__name__)


class AdversarialModule(pl.LightningModule):
    """Alternates D and G updates; subclasses define the two losses.

    ``optimizer`` builds both optimizers unless ``d_optimizer`` is given (e.g. a TTUR learning
    rate for D). ``scheduler`` (optional) is applied to each optimizer and stepped by hand at the
    end of every epoch, since Lightning does not step schedulers under manual optimization.
    """

    automatic_optimization = False

    def __init__(
        self,
        loss: AdversarialLoss,
        optimizer: OptimizerFactory,
        d_optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        d_steps: int = 1,
        g_grad_clip: float | None = None,
        d_grad_clip: float | None = None,
        on_nonfinite: str = "stop",
    ) -> None:
        super().__init__()
        if on_nonfinite not in NONFINITE_ACTIONS:
            allowed = ", ".join(NONFINITE_ACTIONS)
            raise ValueError(f"on_nonfinite must be one of {allowed}, got {on_nonfinite!r}")
        if d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}")
        for name, clip in (("g_grad_clip", g_grad_clip), ("d_grad_clip", d_grad_clip)):
            if clip is not None and clip <= 0:
                raise ValueError(f"{name} must be positive or null, got {clip}")
        self.loss = loss
        self.optimizer_factory = optimizer
        self.d_optimizer_factory = d_optimizer or optimizer
        self.scheduler_factory = scheduler
        self.d_steps = d_steps
        self.g_grad_clip = g_grad_clip
        self.d_grad_clip = d_grad_clip
        self.d_updates_since_g = 0
        self._rank_rng: tuple[int | None, list] = (None, [])  # (step, every rank's RNG state)
        self._window_means = RunningMeans()  # since the last logged step
        self._epoch_means = RunningMeans()
        self.on_nonfinite = on_nonfinite
        self.skipped_updates = 0
        # on_nonfinite=stop: losses not yet checked for inf/NaN, and where each was computed
        self._unchecked_losses: list[Tensor] = []
        self._unchecked_where: list[tuple[str, int, int]] = []  # (name, step, epoch)
        self._direct_updates = False  # set at the start of fit (_dispatch_is_a_no_op)
        # The resolved run config, set by train.py and stored in every checkpoint so inference
        # commands can rebuild the networks without unpickling code.
        self.run_config: dict | None = None

    # --- what a variant provides ---------------------------------------------------------------
    def discriminator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """D's loss on one batch, plus extra scalars to log (e.g. mean D(x), mean D(G(z)))."""
        raise NotImplementedError

    def generator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        return self.generator.parameters()

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        return self.discriminator.parameters()

    def grid_images(self) -> dict[str, tuple[Tensor, int]]:
        """Images in [-1, 1] to render as sample grids: name -> (NCHW batch, images per row)."""
        raise NotImplementedError

    # --- the shared loop -------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        d_opt = self.d_optimizer_factory(self.discriminator_parameters())
        g_opt = self.optimizer_factory(self.generator_parameters())
        if self.scheduler_factory is None:
            return [d_opt, g_opt]
        return [d_opt, g_opt], [self.scheduler_factory(d_opt), self.scheduler_factory(g_opt)]

    def _precision(self) -> Any:
        return self.trainer.precision_plugin if self._trainer is not None else None

    @contextmanager
    def _only_updating(self, optimizer: Any, side: str) -> Iterator[None]:
        """Freeze every parameter the optimizer does not own, so no gradient leaks across nets;
        under fp16 AMP, scale this side's loss with its own scaler (``precision.py``)."""
        precision = self._precision()
        if hasattr(precision, "use_scaler_for"):
            precision.use_scaler_for(side)
        self.toggle_optimizer(optimizer)
        try:
            yield
        finally:
            self.untoggle_optimizer(optimizer)

    def _dispatch_is_a_no_op(self) -> bool:
        """Whether Lightning's work around each backward and step would only call hooks that
        do nothing: one device, full precision, no profiler, and neither this module nor any
        callback overriding ``UPDATE_HOOKS``. Then the update calls ``loss.backward()`` and the
        optimizer's own ``step()`` directly, which saved about 0.35 ms per batch on the CPU
        (experiments/benchmarks/README.md), against a ~15 ms MLP GAN step; anything else
        (DDP's backward preparation, AMP's scaling, a callback's hook) takes Lightning's path."""
        trainer = self.trainer
        if type(trainer.strategy) is not SingleDeviceStrategy:
            return False
        if type(trainer.precision_plugin) is not Precision:
            return False
        if type(trainer.profiler) is not PassThroughProfiler:
            return False
        return not any(
            is_overridden(hook, self, pl.LightningModule)
            or any(is_overridden(hook, callback, pl.Callback) for callback in trainer.callbacks)
            for hook in UPDATE_HOOKS
        )

    def on_fit_start(self) -> None:
        self._direct_updates = self._dispatch_is_a_no_op()
        self._unchecked_losses, self._unchecked_where = [], []  # left by a fit that failed

    def _backward(self, loss: Tensor) -> None:
        if self._direct_updates:
            loss.backward()
        else:
            self.manual_backward(loss)

    def _step(self, optimizer: Any) -> None:
        if self._direct_updates:  # the progress counting (global_step) still runs
            optimizer._on_before_step()
            optimizer.optimizer.step()
            optimizer._on_after_step()
        else:
            optimizer.step()

    def _update(self, optimizer: Any, loss: Tensor, clip: float | None, name: str) -> None:
        """Backward and step. A non-finite loss (or, when skipping, gradient) stops the run or
        skips this update, per ``on_nonfinite``: ``skip`` checks now (one host sync per
        update), ``stop`` queues the loss for the next batched check."""
        if self.on_nonfinite == "skip":
            if not self._finite(loss, name):
                return
        else:
            self._unchecked_losses.append(loss.detach())
            self._unchecked_where.append((name, self.global_step, self.current_epoch))
        self._backward(loss)
        precision = self._precision()
        if hasattr(precision, "unscale"):  # clip unscaled gradients; inf/NaN: the scaler skips
            precision.unscale(optimizer)
        elif self.on_nonfinite == "skip" and not self._agreed(self._gradients_finite(optimizer)):
            optimizer.zero_grad(set_to_none=True)
            self._skip(f"a gradient of the {name} update is not finite")
            return
        if clip is not None:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")
        self._step(optimizer)
        optimizer.zero_grad(set_to_none=True)
        if getattr(precision, "last_step_skipped", False):
            self._scaler_skipped(precision.scaler.get_scale(), name)

    def _scaler_skipped(self, scale: float, name: str) -> None:
        """fp16: the scaler skipped this step (an inf/NaN gradient). Early overflows are normal
        and only counted; a scale that keeps falling means the gradients stay non-finite."""
        self.skipped_updates += 1
        if scale >= MIN_LOSS_SCALE:
            return
        problem = f"the {name} update's gradients stayed inf/NaN (fp16 loss scale {scale:.3g})"
        if self.on_nonfinite == "stop":
            raise TrainingDiverged(
                f"training diverged: {problem} {self._where()}; lower the learning rate, clip "
                "gradients or train in bf16-mixed / 32-true"
            )
        log.warning("%s %s (%d skipped)", problem, self._where(), self.skipped_updates)

    def _where(self) -> str:
        return f"at step {self.global_step} (epoch {self.current_epoch})"

    def _agreed(self, ok: bool) -> bool:
        """Under DDP every rank must take the same branch (or the gradient all-reduce hangs)."""
        if self._trainer is None:
            return ok
        return bool(self.trainer.strategy.reduce_boolean_decision(ok, all=True))

    def _finite(self, loss: Tensor, name: str) -> bool:
        """Skip mode: is this loss finite on every rank? (If not, the update is skipped.)"""
        if self._agreed(bool(torch.isfinite(loss))):
            return True
        self._skip(f"{name} is {float(loss.detach())}")
        return False

    def _check_losses(self, values: Tensor | None = None, agree: bool = True) -> Tensor | None:
        """Stop mode: raise ``TrainingDiverged`` naming the first non-finite loss since the last
        check, its step and epoch. One host transfer for all of them, shared with ``values``
        (the logging window's, returned on the host); under DDP (``agree``) one all-reduce, a
        mean, so a loss that is not finite on one rank makes every rank stop together."""
        losses, where = self._unchecked_losses, self._unchecked_where
        self._unchecked_losses, self._unchecked_where = [], []
        parts = [] if values is None else [values]
        if losses:
            parts.append(torch.stack(losses).float())
        if not parts:
            return None
        flat = torch.cat(parts)
        if agree and self._trainer is not None and self.trainer.world_size > 1:
            flat = self.trainer.strategy.reduce(flat, reduce_op="mean")
        flat = flat.cpu()
        checked = flat[flat.shape[0] - len(losses) :]
        bad = (~torch.isfinite(checked)).nonzero()
        if bad.numel():
            index = int(bad[0])
            name, step, epoch = where[index]
            raise TrainingDiverged(
                f"training diverged: {name} is {float(checked[index])} at step {step} "
                f"(epoch {epoch}); lower the learning rate, clip gradients (model.d_grad_clip, "
                "model.g_grad_clip) or set model.on_nonfinite=skip"
            )
        return None if values is None else flat[: values.shape[0]]

    def _skip(self, problem: str) -> None:
        self.skipped_updates += 1
        log.warning(
            "skipped an update: %s %s (%d skipped)", problem, self._where(), self.skipped_updates
        )

    @staticmethod
    def _gradients_finite(optimizer: Any) -> bool:
        grads = [
            p.grad
            for group in optimizer.param_groups
            for p in group["params"]
            if p.grad is not None
        ]
        return not grads or bool(torch.stack([g.isfinite().all() for g in grads]).all())

    def training_step(self, batch: Any, batch_idx: int) -> None:
        d_opt, g_opt = self.optimizers()
        with self._only_updating(d_opt, "discriminator"):
            d_loss, logs = self.discriminator_loss(batch)
            self._update(d_opt, d_loss, self.d_grad_clip, "d_loss")
        logs = {"d_loss": d_loss.detach(), **logs}
        self.d_updates_since_g += 1
        if self.d_updates_since_g >= self.d_steps:
            with self._only_updating(g_opt, "generator"):
                g_loss, g_logs = self.generator_loss(batch)
                self._update(g_opt, g_loss, self.g_grad_clip, "g_loss")
            self.d_updates_since_g = 0
            logs.update({"g_loss": g_loss.detach(), **g_logs})
        packed = RunningMeans.pack(logs)  # one tensor operation for both means
        self._window_means.add(packed)
        self._epoch_means.add(packed)
        if self._trainer is None:
            return
        last_batch = batch_idx + 1 >= self.trainer.num_training_batches
        if self.trainer._logger_connector.should_update_logs:  # every log_every_n_steps
            self._log_window()  # checks the losses too
        elif last_batch or len(self._unchecked_losses) >= MAX_UNCHECKED_LOSSES:
            self._check_losses()  # every rank is here at the same batch
        if last_batch:
            self._log_epoch()  # here, so callbacks' on_train_epoch_end see this epoch's means

    def on_train_epoch_start(self) -> None:
        # windows start with the epoch, so a run resumed at an epoch boundary logs what the
        # uninterrupted run logged
        self._window_means.reset()

    def _log_window(self) -> None:
        """``train/<name>_step``: the mean since the last logged step or the epoch's start
        (under DDP, over ranks), written straight to the loggers.

        Not through ``self.log``: Lightning's result collection walks each metric's state on
        every call; a window of the MLP GAN's 8 keys took 2.3 ms that way against 0.35 ms here
        (one stacked tensor, one all-reduce under DDP, one host transfer). What ``self.log``
        would also have done is done here: the window lands in ``trainer.callback_metrics``
        (status.json, sweep summaries, Optuna's ``optimized_metric``) and the two losses in
        ``trainer.progress_bar_metrics`` (any progress bar).
        """
        means = self._window_means.means()
        self._window_means.reset()
        names = list(means)
        values = self._check_losses(torch.stack([means[name].float() for name in names]))
        window = {f"train/{name}_step": value for name, value in zip(names, values, strict=True)}
        losses = {
            name: window[f"train/{name}_step"] for name in ("d_loss", "g_loss") if name in means
        }
        connector = self.trainer._logger_connector
        # Lightning's own path for logged metrics: adds "epoch", numbers the row with the step
        # Lightning gives self.log's step metrics, and saves each logger
        connector.log_metrics(window)
        connector._callback_metrics.update({**window, **losses})
        connector._progress_bar_metrics.update({k: float(v) for k, v in losses.items()})

    def _log_epoch(self) -> None:
        """``train/<name>_epoch`` (also ``train/<name>`` for callbacks): the epoch's mean."""
        means = self._epoch_means.means()
        self._epoch_means.reset()
        for suffix, to_logger in (("_epoch", True), ("", False)):
            self.log_dict(
                {f"train/{k}{suffix}": v for k, v in means.items()},
                on_step=False,
                on_epoch=True,
                logger=to_logger,
                sync_dist=True,
            )

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.trainer.world_size > 1:
            seed_for_rank(self.trainer.global_rank)  # a resumed run then restores its own state

    def on_train_epoch_end(self) -> None:
        # an epoch whose last batch the step could not tell (a loader of unknown length)
        self._check_losses()
        if self._epoch_means:
            self._log_epoch()
        # Runs before ModelCheckpoint (a monitoring callback): non-finite weights never replace
        # the last good checkpoint. Buffers too: BatchNorm statistics saw every forward pass
        # (and differ between DDP ranks, hence the agreed decision: one rank raising alone
        # would hang the others)
        bad = first_non_finite([*self.named_parameters(), *self.named_buffers()])
        if not self._agreed(bad is None):
            self._diverged_weights(bad or "a tensor on another rank")
        if self._trainer is not None and self.trainer.world_size > 1:
            # every rank is here together (the end of an epoch), just before ModelCheckpoint
            # saves: gather the RNG states now rather than inside the save, which may also run
            # from an interruption, when the ranks are not in step
            self._rank_rng = (self.global_step, gather_rng_states(collect_rng_state()))
        if self.scheduler_factory is None:
            return
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    # --- checkpoint extras -----------------------------------------------------------------------
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # the epoch ends after this batch (max_steps, a callback's should_stop): check now,
        # before callbacks' on_train_epoch_end (grids, metrics) run on the weights
        trainer = self.trainer
        if trainer.should_stop or 0 < trainer.max_steps <= self.global_step:
            self._check_losses()  # both conditions hold on every rank alike

    def _check_weights_before_saving(self) -> None:
        """A non-finite loss not yet checked has already reached the weights: write nothing.

        The parameters are checked, not this rank's queued losses: DDP keeps them equal on
        every rank (a NaN loss on one rank reaches all through the gradient all-reduce), so
        every rank decides alike without a collective, which a save from an interruption,
        ranks out of step, could not make."""
        bad = first_non_finite(self.named_parameters())
        if bad is None:
            return
        self._check_losses(agree=False)  # names the loss, when this rank computed it
        self._diverged_weights(bad)

    def _diverged_weights(self, name: str) -> None:
        raise TrainingDiverged(
            f"training diverged: {name} is not finite {self._where()}; lower the learning rate "
            "or clip gradients"
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._check_weights_before_saving()
        step, gathered = self._rank_rng
        # at an epoch end every rank's state was gathered just before; mid-epoch (an
        # interruption) only this rank's is known, and a resume re-derives the others
        rng_per_rank = gathered if step == self.global_step else []
        checkpoint[CHECKPOINT_KEY] = {
            "version": __version__,
            "variant": type(self).__name__,
            "config": self.run_config,
            "d_updates_since_g": self.d_updates_since_g,
            "skipped_updates": self.skipped_updates,
            # The global RNGs drive the shuffling, augmentation, latents and pools: restoring
            # them makes a resumed run draw what the uninterrupted run would have drawn.
            "rng": collect_rng_state(),  # rank 0's: it alone writes the file
            "rng_per_rank": rng_per_rank,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        extras = checkpoint.get(CHECKPOINT_KEY, {})
        check_version(extras.get("version"), "checkpoint")
        self.d_updates_since_g = int(extras.get("d_updates_since_g", 0))
        self.skipped_updates = int(extras.get("skipped_updates", 0))
        fitting = self._trainer is not None and self.trainer.state.fn == "fit"
        if "rng" in extras and fitting:  # resuming; a plain load leaves the caller's RNG alone
            self._restore_rng(extras)

    def _restore_rng(self, extras: dict[str, Any]) -> None:
        rank, world_size = self.trainer.global_rank, self.trainer.world_size
        per_rank = extras.get("rng_per_rank") or []
        if len(per_rank) == world_size:
            restore_rng_state(per_rank[rank])
            return
        restore_rng_state(extras["rng"])  # rank 0's state; other world sizes cannot be exact
        if world_size > 1:
            seed_for_rank(rank)  # distinct streams, derived from the restored state


def check_version(saved: str | None, what: str) -> None:
    """Checkpoints of another major version (minor, while at 0.x) may not load: say so."""
    if saved is None:
        raise UserError(f"the {what} records no gan-lightning version; it was not written by it")

    def series(version: str) -> tuple[str, ...]:
        parts = version.split(".")
        return tuple(parts[:2]) if parts[0] == "0" else (parts[0],)

    if series(saved) != series(__version__):
        raise UserError(
            f"the {what} was written by gan-lightning {saved}, which is incompatible with this "
            f"version ({__version__}); use gan-lightning {'.'.join(series(saved))}.x to load it"
        )


def first_non_finite(named: Iterable[tuple[str, Tensor]]) -> str | None:
    """The name of the first floating-point tensor holding an inf/NaN, or None: one host sync
    when all are finite."""
    tensors = [(name, t) for name, t in named if t.is_floating_point()]
    if not tensors or bool(torch.stack([t.isfinite().all() for _, t in tensors]).all()):
        return None
    return next(name for name, t in tensors if not bool(t.isfinite().all()))
