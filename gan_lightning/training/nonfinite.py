"""What happens when a loss, gradient or weight becomes inf/NaN: stop the run, or skip the update.

The step reads no tensor on the host between logging windows: on a GPU a host read waits for
every queued kernel (and under DDP each agreed decision is one more all-reduce). So under
``on_nonfinite=stop`` losses are queued and checked in batches; ``skip`` must decide before
each update and reads each loss at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from gan_lightning.errors import TrainingDiverged

# Under fp16 a NaN gradient never reaches the weights: the scaler skips the step and halves its
# scale. 30 halvings from 2**16 mean every step has been skipped for a long time: diverged.
MIN_LOSS_SCALE = 2.0**-14
# Queued losses are checked at every logging window, at an epoch's end, before a checkpoint is
# written, and at the latest after this many updates.
MAX_UNCHECKED_LOSSES = 200
FIX = "lower the learning rate, clip gradients (model.training.d_grad_clip, g_grad_clip)"
log = logging.getLogger(__name__)

Agree = Callable[[bool], bool]  # every DDP rank takes the same branch
Reduce = Callable[[Tensor], Tensor]  # a mean over DDP ranks


class NonFiniteGuard:
    """Queues losses (``stop``) or checks them now (``skip``); counts skipped updates."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.skipped_updates = 0
        self.losses: list[Tensor] = []  # not yet checked, and where each was computed
        self.where: list[tuple[str, int, int]] = []  # (name, step, epoch)

    def reset(self) -> None:
        self.losses, self.where = [], []

    def admit(self, loss: Tensor, name: str, step: int, epoch: int, agree: Agree) -> bool:
        """Whether the update may go on: queued under ``stop``, checked now under ``skip``."""
        if self.action == "stop":
            self.losses.append(loss.detach())
            self.where.append((name, step, epoch))
            return True
        if agree(bool(torch.isfinite(loss))):
            return True
        self.skip(f"{name} is {float(loss.detach())}", step, epoch)
        return False

    def gradients_ok(self, optimizer: Any, name: str, step: int, epoch: int, agree: Agree) -> bool:
        """Skip mode without a scaler: a non-finite gradient skips the update on every rank."""
        if self.action != "skip" or agree(gradients_finite(optimizer)):
            return True
        optimizer.zero_grad(set_to_none=True)
        self.skip(f"a gradient of the {name} update is not finite", step, epoch)
        return False

    def check(self, values: Tensor | None = None, reduce: Reduce | None = None) -> Tensor | None:
        """Raise ``TrainingDiverged`` naming the first non-finite queued loss, its step and
        epoch. One host transfer for all of them, shared with ``values`` (the logging window's,
        returned on the host); ``reduce`` (DDP) makes every rank stop together."""
        losses, where = self.losses, self.where
        self.reset()
        parts = [] if values is None else [values]
        if losses:
            parts.append(torch.stack(losses).float())
        if not parts:
            return None
        flat = torch.cat(parts)
        if reduce is not None:
            flat = reduce(flat)
        flat = flat.cpu()
        checked = flat[flat.shape[0] - len(losses) :]
        bad = (~torch.isfinite(checked)).nonzero()
        if bad.numel():
            index = int(bad[0])
            name, step, epoch = where[index]
            raise TrainingDiverged(
                f"training diverged: {name} is {float(checked[index])} at step {step} "
                f"(epoch {epoch}); {FIX} or set model.training.on_nonfinite=skip"
            )
        return None if values is None else flat[: values.shape[0]]

    def scaler_skipped(self, scale: float, name: str, step: int, epoch: int) -> None:
        """fp16: the scaler skipped this step (an inf/NaN gradient). Early overflows are normal
        and only counted; a scale that keeps falling means the gradients stay non-finite."""
        self.skipped_updates += 1
        if scale >= MIN_LOSS_SCALE:
            return
        problem = f"the {name} update's gradients stayed inf/NaN (fp16 loss scale {scale:.3g})"
        if self.action == "stop":
            raise TrainingDiverged(
                f"training diverged: {problem} {where_text(step, epoch)}; lower the learning "
                "rate, clip gradients or train in bf16-mixed / 32-true"
            )
        log.warning("%s %s (%d skipped)", problem, where_text(step, epoch), self.skipped_updates)

    def skip(self, problem: str, step: int, epoch: int) -> None:
        self.skipped_updates += 1
        log.warning(
            "skipped an update: %s %s (%d skipped)",
            problem,
            where_text(step, epoch),
            self.skipped_updates,
        )


def where_text(step: int, epoch: int) -> str:
    return f"at step {step} (epoch {epoch})"


def gradients_finite(optimizer: Any) -> bool:
    grads = [
        p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None
    ]
    return not grads or bool(torch.stack([g.isfinite().all() for g in grads]).all())


def first_non_finite(named: Iterable[tuple[str, Tensor]]) -> str | None:
    """The name of the first floating-point tensor holding an inf/NaN, or None: one host sync
    when all are finite."""
    tensors = [(name, t) for name, t in named if t.is_floating_point()]
    if not tensors or bool(torch.stack([t.isfinite().all() for _, t in tensors]).all()):
        return None
    return next(name for name, t in tensors if not bool(t.isfinite().all()))


def diverged_weights(name: str, step: int, epoch: int) -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged: {name} is not finite {where_text(step, epoch)}; lower the learning "
        "rate or clip gradients"
    )
