"""One optimizer update of the shared step: freeze the other side, backward, clip, step.

With no DDP, AMP, profiler or update hook in play, the backward and the optimizer step are
called directly: Lightning's dispatch around them would only call hooks that do nothing
(``lightning_adapter.dispatch_is_a_no_op``), and it costs a measurable share of a small GAN's
step (experiments/benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from gan_lightning.training.lightning_adapter import attached_trainer, step_without_dispatch


def precision_plugin(module: pl.LightningModule) -> Any:
    trainer = attached_trainer(module)
    return trainer.precision_plugin if trainer is not None else None


def gradient_scale(module: pl.LightningModule) -> Tensor | None:
    """The active fp16 loss scale as a device tensor (read without a host sync), or None
    when no gradient scaler is in use (fp32, bf16)."""
    scaler = getattr(precision_plugin(module), "scaler", None)
    if scaler is None or not scaler.is_enabled():
        return None
    return scaler.scale(torch.ones((), device=module.device))


def agreed(module: pl.LightningModule, ok: bool) -> bool:
    """Under DDP every rank must take the same branch (or the gradient all-reduce hangs)."""
    trainer = attached_trainer(module)
    if trainer is None:
        return ok
    return bool(trainer.strategy.reduce_boolean_decision(ok, all=True))


@contextmanager
def only_updating(module: pl.LightningModule, optimizer: Any, side: str) -> Iterator[None]:
    """Freeze every parameter the optimizer does not own, so no gradient leaks across nets;
    under fp16 AMP, scale this side's loss with its own scaler (``precision.py``)."""
    precision = precision_plugin(module)
    if hasattr(precision, "use_scaler_for"):
        precision.use_scaler_for(side)
    module.toggle_optimizer(optimizer)
    try:
        yield
    finally:
        module.untoggle_optimizer(optimizer)


def gradient_norm(optimizer: Any) -> Tensor:
    """The 2-norm of all gradients the optimizer steps, as norm clipping measures it."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    # in float32: a half-precision norm overflows at 65504 where the gradients are finite
    norms = [
        torch.linalg.vector_norm(p.grad.detach(), dtype=torch.float32)
        for p in params
        if p.grad is not None
    ]
    if not norms:
        return torch.zeros((), device=params[0].device)
    return torch.linalg.vector_norm(torch.stack(norms))


def update(
    module: pl.LightningModule,
    optimizer: Any,
    loss: Tensor,
    clip: float | None,
    name: str,
    checked: Tensor | None = None,
) -> Tensor | None:
    """Backward and step, unless the non-finite guard (``module.guard``) skips this update.

    ``checked``: the value the guard watches, when not ``loss`` itself (under a gradient
    scaler, D's penalty may overflow like any fp16 gradient: the scaler skips that update).
    Returns the gradients' norm (unscaled, before clipping) when the module's
    ``training_options.log_grad_norms`` asks for it, as a device tensor (no host sync); None
    when it does not or the update is skipped.
    """
    guard = module.guard

    def agree(ok: bool) -> bool:
        return agreed(module, ok)

    watched = loss if checked is None else checked
    if not guard.admit(watched, name, module.global_step, module.current_epoch, agree):
        return None
    if module.direct_updates:
        loss.backward()
    else:
        module.manual_backward(loss)
    precision = precision_plugin(module)
    if hasattr(precision, "unscale"):  # clip unscaled gradients; inf/NaN: the scaler skips
        precision.unscale(optimizer)
    elif not guard.gradients_ok(optimizer, name, module.global_step, module.current_epoch, agree):
        return None
    norm = gradient_norm(optimizer) if module.training_options.log_grad_norms else None
    if clip is not None:
        module.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")
    if module.direct_updates:
        step_without_dispatch(optimizer)
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if getattr(precision, "last_step_skipped", False):
        scale = precision.scaler.get_scale()
        guard.scaler_skipped(scale, name, module.global_step, module.current_epoch)
        return None
    return norm
