"""The one adversarial training step shared by every variant, and the contract of a variant.

Each training batch makes one discriminator update, and every ``d_steps``-th batch is followed
by one generator update, so k D updates per G update each see a fresh real minibatch
(Goodfellow et al. 2014, Algorithm 1). Lightning counts ``trainer.global_step`` once per
optimizer step: with ``d_steps=1``, ``trainer.max_steps=1000`` is 500 batches.

What the step leans on lives in ``gan_lightning.training``: the options (``TrainingOptions``),
one update's mechanics (``updates``), the non-finite guard, the logged means, the checkpointed
state, and the adapter over Lightning's private names.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from functools import partial
from itertools import chain
from typing import Any

import pytorch_lightning as pl
from torch import Tensor, nn

from gan_lightning.ema import GeneratorAverages
from gan_lightning.losses import AdversarialLoss
from gan_lightning.regularizers import Critic, DiscriminatorPenalties
from gan_lightning.rng import seed_for_rank
from gan_lightning.training.checkpoint_state import CHECKPOINT_KEY, CheckpointState
from gan_lightning.training.lightning_adapter import (
    attached_trainer,
    dispatch_is_a_no_op,
    is_logging_step,
    ran_to_epoch_end,
    resume_where_the_batches_stopped,
)
from gan_lightning.training.nonfinite import (
    MAX_UNCHECKED_LOSSES,
    NonFiniteGuard,
    Reduce,
    diverged_weights,
    first_non_finite,
)
from gan_lightning.training.options import TrainingOptions
from gan_lightning.training.step_logs import StepLogs
from gan_lightning.training.updates import agreed, gradient_scale, only_updating, update

__all__ = ["CHECKPOINT_KEY", "AdversarialModule", "TrainingOptions"]


class AdversarialModule(pl.LightningModule):
    """Alternates D and G updates. A variant (see ``models/template.py``) writes:

    * ``__init__``: build on ``super().__init__(loss, training)``, keep its networks as
      attributes, and call ``self.save_settings()`` (its plain arguments, into checkpoints).
    * ``discriminator_loss(batch)`` / ``generator_loss(batch)``: (loss, extra scalars to log);
      D's fakes are made under ``torch.no_grad()``. D's logits on real and fake come from
      ``self.judge(critic, real, fake)``, where ``critic`` is x -> D's logits with the
      condition bound and ``self.augmented`` applied to the images D sees (G's update too):
      that is how penalties, augmentation and ADA reach every variant.
    * ``grid_images()``: name -> (images in [-1, 1], images per row) for the sample grids.
    * ``generators()`` (G's parameters follow from it) and ``discriminator_parameters()``:
      only when the networks are not ``self.generator`` / ``self.discriminator`` (CycleGAN's
      pairs, StackGAN's stages).
    * optionally ``data_kind`` ("unpaired", "paired", "captioned", "points"), checked against
      the data module at start-up, and extra checkpoint state in ``on_save_checkpoint`` /
      ``on_load_checkpoint`` (call ``super()`` and add to ``checkpoint[CHECKPOINT_KEY]``).
    """

    automatic_optimization = False

    def __init__(self, loss: AdversarialLoss, training: TrainingOptions) -> None:
        super().__init__()
        self.loss = loss
        self.training_options = training
        self.d_updates_since_g = 0
        self.guard = NonFiniteGuard(training.on_nonfinite)
        self.step_logs = StepLogs()
        self.checkpoint_state = CheckpointState()
        self.direct_updates = False  # set at the start of fit (updates.py)
        self.penalties = DiscriminatorPenalties.from_options(training)
        self.augment = training.augment
        if self.augment is not None and getattr(self, "data_kind", "") == "points":
            raise ValueError(
                "augment works on images, and this model trains on 2-D points; drop "
                "model.training.augment"
            )
        self.averages: GeneratorAverages | None = None  # built by configure_model
        # The resolved run config, set by train.py and kept in every checkpoint.
        self.run_config: dict | None = None

    def save_settings(self) -> None:
        """``save_hyperparameters`` of the calling ``__init__``, less its networks, loss and
        options: the state dict holds the weights, and the run config rebuilds the rest."""
        frame = inspect.currentframe().f_back
        skip = (nn.Module, AdversarialLoss, TrainingOptions)
        ignore = [name for name, value in frame.f_locals.items() if isinstance(value, skip)]
        self.save_hyperparameters(ignore=ignore, frame=frame)

    # --- what a variant provides ---------------------------------------------------------------
    def discriminator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """D's loss on one batch, plus extra scalars to log (e.g. mean D(x), mean D(G(z)))."""
        raise NotImplementedError

    def generator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def grid_images(self) -> dict[str, tuple[Tensor, int]]:
        """Images in [-1, 1] to render as sample grids: name -> (NCHW batch, images per row)."""
        raise NotImplementedError

    def generators(self) -> dict[str, nn.Module]:
        """The networks that generate (attribute name -> network): the average of G keeps
        a copy of each, and ``ema.use_averages`` swaps those attributes."""
        return {"generator": self.generator}

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        return chain.from_iterable(g.parameters() for g in self.generators().values())

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        return self.discriminator.parameters()

    # --- what the toolkit adds to every variant -------------------------------------------------
    def augmented(self, *images: Tensor) -> Tensor | tuple[Tensor, ...]:
        """What D sees of ``images``: one draw of the configured augmentation applied to all
        (paired images stay aligned); the images themselves when none is configured."""
        if self.augment is None:
            return images[0] if len(images) == 1 else images
        return self.augment(*images)

    def judge(self, critic: Critic, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """D's logits on real and fake (``critic``: x -> logits, as in the contract above).
        Queues this D's penalties for the step and tells ADA how D judged the real images."""
        if self.penalties.r1_due:
            real = real.detach().requires_grad_(True)
        real_logits, fake_logits = critic(real), critic(fake)
        if self.augment is not None:
            centred = real_logits.detach() - self.loss.decision_boundary
            self.augment.observe(centred, images=real.shape[0])
        if self.penalties.enabled:
            self.penalties.add(critic, real, fake, real_logits, gradient_scale(self))
        return real_logits, fake_logits

    def configure_model(self) -> None:
        """Build the average of G (``model.training.ema``), before a checkpoint is restored."""
        ema = self.training_options.ema
        if ema.decay is not None and self.averages is None:
            self.averages = GeneratorAverages(self.generators(), ema)

    # --- the step ------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        return self.training_options.optimizers(
            self.discriminator_parameters(), self.generator_parameters()
        )

    def training_step(self, batch: Any, batch_idx: int) -> None:
        d_opt, g_opt = self.optimizers()
        logs = self.discriminator_update(batch, d_opt)
        self.d_updates_since_g += 1
        if self.d_updates_since_g >= self.training_options.d_steps:
            logs.update(self.generator_update(batch, g_opt))
            self.d_updates_since_g = 0
        self.record(logs, batch_idx)

    def discriminator_update(self, batch: Any, optimizer: Any) -> dict[str, Tensor]:
        """D's loss plus the penalties its judgements queued, one optimizer step."""
        with only_updating(self, optimizer, "discriminator"):
            d_loss, logs = self.discriminator_loss(batch)
            penalty = self.penalties.collect()
            total = checked = d_loss
            if penalty is not None:
                total = d_loss + penalty
                # under fp16's scaler a penalty's overflow is the scaler's to skip: the guard
                # watches D's adversarial loss then
                checked = d_loss if gradient_scale(self) is not None else total
            clip = self.training_options.d_grad_clip
            norm = update(self, optimizer, total, clip, "d_loss", checked)
        self.penalties.count_update()
        logs = {"d_loss": d_loss.detach(), **logs}
        if norm is not None:
            logs["d_grad_norm"] = norm
        if penalty is not None:
            logs["d_penalty"] = penalty.detach()
        if self.augment is not None and self.augment.probability is not None:
            logs["augment_p"] = self.augment.probability.detach()
        return logs

    def generator_update(self, batch: Any, optimizer: Any) -> dict[str, Tensor]:
        """G's loss, one optimizer step, then G's average (when the run keeps one)."""
        with only_updating(self, optimizer, "generator"):
            g_loss, logs = self.generator_loss(batch)
            norm = update(self, optimizer, g_loss, self.training_options.g_grad_clip, "g_loss")
        if self.averages is not None:
            self.averages.update(self.generators(), self.global_step)
        logs = {"g_loss": g_loss.detach(), **logs}
        if norm is not None:
            logs["g_grad_norm"] = norm
        return logs

    def record(self, logs: dict[str, Tensor], batch_idx: int) -> None:
        """Add the batch's scalars to the means; log a window or check the queued losses when
        due (every rank is at the same batch); close the epoch's means on its last batch, so
        callbacks' ``on_train_epoch_end`` see them."""
        self.step_logs.add(logs)
        trainer = attached_trainer(self)
        if trainer is None:
            return
        last_batch = batch_idx + 1 >= trainer.num_training_batches
        if is_logging_step(trainer):
            self.step_logs.log_window(trainer, self.guard, self._reduce())
        elif last_batch or len(self.guard.losses) >= MAX_UNCHECKED_LOSSES:
            self.guard.check(reduce=self._reduce())
        if last_batch:
            self.step_logs.log_epoch(self)

    def _reduce(self) -> Reduce | None:
        """A mean over DDP ranks, so a loss that is not finite on one rank stops them all."""
        trainer = attached_trainer(self)
        if trainer is None or trainer.world_size == 1:
            return None
        return lambda values: trainer.strategy.reduce(values, reduce_op="mean")

    # --- Lightning hooks -------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if stage == "fit" and self.trainer.world_size > 1:
            share = partial(self.trainer.strategy.broadcast, src=0)
            seed_for_rank(self.trainer.global_rank, share)  # a resumed run restores its own

    def on_fit_start(self) -> None:
        self.direct_updates = dispatch_is_a_no_op(self, self.trainer)
        self.guard.reset()  # losses left by a fit that failed

    def on_train_epoch_start(self) -> None:
        self.step_logs.start_epoch()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # the epoch ends after this batch (max_steps, a callback's should_stop): check now,
        # before callbacks' on_train_epoch_end (grids, metrics) see the weights
        trainer = self.trainer
        if trainer.should_stop or 0 < trainer.max_steps <= self.global_step:
            self.guard.check(reduce=self._reduce())  # both conditions hold on every rank alike

    def on_train_epoch_end(self) -> None:
        self.guard.check(reduce=self._reduce())  # a loader of unknown length ends here
        if self.step_logs.epoch:
            self.step_logs.log_epoch(self)
        # Before ModelCheckpoint (a monitoring callback), so non-finite weights never replace the
        # last good checkpoint. Buffers too (BatchNorm statistics differ between DDP ranks,
        # hence the agreed decision: one rank raising alone would hang the others).
        bad = first_non_finite([*self.named_parameters(), *self.named_buffers()])
        if not agreed(self, bad is None):
            raise diverged_weights(bad or "a tensor on another rank", *self._where())
        if self.trainer.world_size > 1:
            self.checkpoint_state.gather_rank_rng(self.global_step)
        # an epoch cut short (max_steps, a stop) is finished by the resumed run, which steps then
        if self.training_options.scheduler is not None and ran_to_epoch_end(self.trainer):
            schedulers = self.lr_schedulers()
            for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
                scheduler.step()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A queued non-finite loss has reached the weights: write nothing. The weights are
        # checked (equal on every DDP rank), not the queue, so every rank decides alike.
        bad = first_non_finite(self.named_parameters())
        if bad is not None:
            self.guard.check()  # names the loss, when this rank computed it
            raise diverged_weights(bad, *self._where())
        checkpoint[CHECKPOINT_KEY] = self.checkpoint_state.save(self)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        resume_where_the_batches_stopped(checkpoint)
        self.checkpoint_state.restore(self, checkpoint, attached_trainer(self))

    def _where(self) -> tuple[int, int]:
        return self.global_step, self.current_epoch
