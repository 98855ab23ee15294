"""fp16 mixed precision with one gradient scaler per network side (D and G).

Lightning's ``MixedPrecision`` keeps one ``GradScaler`` for every optimizer. In a GAN the two
losses live on different scales, and an overflow in D's backward would then also halve G's
scale (and the reverse), so G's updates are skipped or under-resolved because of D. Here each
optimizer gets its own scaler, chosen by the shared adversarial step before each update
(``use_scaler_for``), updated after that optimizer's own step, and saved in checkpoints.

Under manual optimization the step clips before ``optimizer.step()``; clipping must see
unscaled gradients, so the step calls ``unscale`` first and ``optimizer_step`` does not unscale
twice. ``trainer.precision=16-mixed`` selects this plugin (``train.py``); bf16 needs no scaler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.plugins.precision import MixedPrecision
from torch.optim import Optimizer

from gan_lightning.training.lightning_adapter import run_after_closure_hooks, unwrapped_optimizer


class AdversarialMixedPrecision(MixedPrecision):
    """``16-mixed`` autocast with a ``GradScaler`` per name ("discriminator", "generator")."""

    def __init__(self, device: str = "cuda") -> None:
        super().__init__("16-mixed", device)
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self._unscaled: set[int] = set()  # optimizers unscaled since their last step
        self.last_step_skipped = False  # the last step found an inf/NaN gradient
        self.use_scaler_for("discriminator")

    def use_scaler_for(self, name: str) -> None:
        """Route the next backward and step through ``name``'s scaler."""
        if name not in self.scalers:
            self.scalers[name] = torch.amp.GradScaler(device=self.device)
        self.scaler = self.scalers[name]

    def unscale(self, optimizer: Optimizer) -> None:
        """Unscale the gradients in place (before clipping or checking them)."""
        optimizer = unwrapped_optimizer(optimizer)
        if id(optimizer) not in self._unscaled:
            self.scaler.unscale_(optimizer)
            self._unscaled.add(id(optimizer))

    def optimizer_step(
        self,
        optimizer: Any,
        model: pl.LightningModule,
        closure: Callable[[], Any],
        **kwargs: Any,
    ) -> Any:
        closure()  # manual optimization: the backward has run already
        self.unscale(optimizer)
        run_after_closure_hooks(self, model, optimizer)
        self._unscaled.discard(id(optimizer))
        scale = self.scaler.get_scale()
        result = self.scaler.step(optimizer, **kwargs)  # skipped when a gradient is inf/NaN
        self.scaler.update()
        self.last_step_skipped = self.scaler.get_scale() < scale  # update() backs off on inf
        return result

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A checkpoint of Lightning's own fp16 plugin stores its one scaler under its class
        name, which Lightning would not hand to this plugin: both sides start from it."""
        if type(self).__qualname__ not in checkpoint and "MixedPrecision" in checkpoint:
            self.load_state_dict(checkpoint["MixedPrecision"])

    def state_dict(self) -> dict[str, Any]:
        return {name: scaler.state_dict() for name, scaler in self.scalers.items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "scale" in state_dict:  # a checkpoint of Lightning's single scaler: give it to both
            state_dict = {"discriminator": state_dict, "generator": state_dict}
        for name, state in state_dict.items():
            self.use_scaler_for(name)
            self.scalers[name].load_state_dict(state)
        self.use_scaler_for("discriminator")


def precision_arguments(trainer_cfg: DictConfig) -> dict[str, Any]:
    """Trainer keyword arguments that replace ``precision=16-mixed`` by the per-side plugin.

    Other precisions are left to Lightning (empty dict). On a machine without CUDA, or with
    ``accelerator=cpu``, the plugin autocasts on the CPU (torch >= 2.3 has fp16 CPU kernels and
    a CPU GradScaler), where Lightning itself would silently switch to bf16.
    """
    if str(trainer_cfg.get("precision")) not in ("16-mixed", "16"):
        return {}
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    on_gpu = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    plugins = [p for p in trainer_cfg.get("plugins") or []]
    from hydra.utils import instantiate

    built = [instantiate(p) for p in plugins]
    return {
        "precision": None,
        "plugins": [*built, AdversarialMixedPrecision("cuda" if on_gpu else "cpu")],
    }
