"""The rich progress bar, showing the losses of the last logging window."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar


class LossProgressBar(RichProgressBar):
    """``RichProgressBar`` plus the module's ``progress_metrics`` (d_loss, g_loss of the last
    logged window). The adversarial step writes its step metrics to the loggers directly, not
    through ``self.log`` (see ``AdversarialModule._log_window``), so Lightning's own
    progress-bar metrics do not hold them."""

    def get_metrics(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule
    ) -> dict[str, int | str | float | dict[str, float]]:
        metrics: dict[str, Any] = super().get_metrics(trainer, pl_module)
        metrics.update(getattr(pl_module, "progress_metrics", {}))
        return metrics
