"""Warnings for the classic signs that a GAN run has stopped learning, from logged epoch means."""

from __future__ import annotations

import logging
from itertools import pairwise
from typing import Any

import pytorch_lightning as pl
import torch

from gan_lightning.sizes import PositiveInt

log = logging.getLogger(__name__)


class TrainingHealthMonitor(pl.Callback):
    """Logs one warning per kind of trouble (it never stops the run):

    * ``train/d_real`` and ``train/d_fake`` (D's mean output on real and generated samples, a
      probability for the BCE losses) both within ``saturation`` of 0 or of 1 for ``patience``
      epochs: D no longer separates them;
    * D(x) near 1 and D(G(z)) near 0 for ``patience`` epochs: D wins and G's gradient fades;
    * ``train/g_loss`` rising for ``rising_epochs`` epochs in a row;
    * the spread of G's fixed-noise samples (mean distance to their mean) below
      ``diversity_drop`` of its largest value so far: a sign of mode collapse.
    """

    def __init__(
        self,
        patience: PositiveInt = 3,
        saturation: float = 0.05,
        rising_epochs: PositiveInt = 5,
        diversity_drop: float = 0.25,
    ) -> None:
        if patience < 1 or rising_epochs < 2:
            raise ValueError("patience must be >= 1 and rising_epochs >= 2")
        self.patience = patience
        self.saturation = saturation
        self.rising_epochs = rising_epochs
        self.diversity_drop = diversity_drop
        self.history: dict[str, list[float]] = {"d_real": [], "d_fake": [], "g_loss": []}
        self.spreads: list[float] = []
        self.warned: set[str] = set()

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self.warned:
            self.warned.add(kind)
            log.warning(message)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.fast_dev_run:
            return
        metrics = trainer.callback_metrics
        for name in self.history:
            value = metrics.get(f"train/{name}_epoch")
            if value is not None:
                self.history[name].append(float(value))
        # D's scores are probabilities only for losses with real/fake targets (not hinge or
        # Wasserstein, whose raw critic values have no "near 0 / near 1")
        if getattr(getattr(pl_module, "loss", None), "has_targets", True):
            self.check_discriminator(trainer.current_epoch)
        self.check_generator_loss(trainer.current_epoch)
        spread = sample_spread(pl_module)
        if spread is not None:
            self.spreads.append(spread)
            self.check_diversity(trainer.current_epoch)

    def check_discriminator(self, epoch: int) -> None:
        real, fake = (
            self.history["d_real"][-self.patience :],
            self.history["d_fake"][-self.patience :],
        )
        if len(real) < self.patience or len(fake) < self.patience:
            return
        high, low = 1 - self.saturation, self.saturation
        if all(r > high and f > high for r, f in zip(real, fake, strict=True)) or all(
            r < low and f < low for r, f in zip(real, fake, strict=True)
        ):
            self._warn(
                "saturated",
                f"epoch {epoch}: D(x) and D(G(z)) have both been near {round(real[-1])} for "
                f"{self.patience} epochs: D no longer separates real from fake",
            )
        elif all(r > high and f < low for r, f in zip(real, fake, strict=True)):
            self._warn(
                "d_wins",
                f"epoch {epoch}: D(x) ~ 1 and D(G(z)) ~ 0 for {self.patience} epochs: D wins and "
                "G's gradient fades; try a lower D learning rate, label smoothing or the "
                "non-saturating / least-squares loss",
            )

    def check_generator_loss(self, epoch: int) -> None:
        recent = self.history["g_loss"][-self.rising_epochs :]
        if len(recent) == self.rising_epochs and all(a < b for a, b in pairwise(recent)):
            self._warn(
                "g_rising",
                f"epoch {epoch}: G's loss rose for {self.rising_epochs} epochs in a row "
                f"({recent[0]:.3g} -> {recent[-1]:.3g})",
            )

    def check_diversity(self, epoch: int) -> None:
        if len(self.spreads) > 1 and self.spreads[-1] < self.diversity_drop * max(self.spreads):
            self._warn(
                "collapse",
                f"epoch {epoch}: the spread of G's fixed-noise samples fell to "
                f"{self.spreads[-1] / max(self.spreads):.0%} of its peak: mode collapse?",
            )


@torch.no_grad()
def sample_spread(pl_module: Any) -> float | None:
    """Mean distance of G's fixed-noise samples to their mean; None for models without them."""
    if not hasattr(pl_module, "fixed_noise") or not hasattr(pl_module, "grid_images"):
        return None
    images = pl_module.grid_images()["samples"][0].float().flatten(1)
    if images.shape[0] != pl_module.fixed_noise.shape[0]:  # a plot, not the samples (2-D)
        return None
    return float((images - images.mean(0)).norm(dim=1).mean())
