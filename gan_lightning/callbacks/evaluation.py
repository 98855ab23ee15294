"""Score the generator every N epochs and log the metrics to every logger."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl

from gan_lightning.ema import use_averages
from gan_lightning.metrics.base import EvaluationInputs, SampleMetric
from gan_lightning.metrics.paired import PairedInputs
from gan_lightning.metrics.selection import MetricSettings, applicable_metrics, build_metric
from gan_lightning.metrics.translation import TranslationInputs
from gan_lightning.sampling import Sampler, latent_settings
from gan_lightning.sizes import PositiveInt

log = logging.getLogger(__name__)
TRANSLATION_BATCH = 16


class EvaluationCallback(pl.Callback):
    """Logs ``eval/<metric>`` at the end of every ``every_n_epochs``-th epoch.

    ``metrics`` null picks every metric that applies to the data (mode coverage for 2-D
    mixtures; classifier distance, class coverage and ``precision`` / ``recall`` / ``density``
    / ``coverage`` in classifier features for labelled image sets, whose classifier is trained
    and cached on first use unless ``train_classifier`` is false;
    FID/KID/IS and ``precision_inception``, ... when ``inception_weights`` is set; cycle
    reconstruction and translation FID/KID on the test images for CycleGAN; L1 to the target,
    and the input's, on the held-out pairs for Pix2Pix) and logs once what it left out.
    Samples are generated ``batch_size`` at a time from a fixed seed, so successive evaluations
    differ only by the generator. Skipped under ``fast_dev_run``.

    The average of G is scored when the run keeps one; ``raw_generator`` also scores the raw G,
    as ``eval/raw/<metric>``, so one run shows what the average adds (at twice the cost).
    """

    def __init__(
        self,
        metrics: Sequence[SampleMetric | str] | None = None,
        every_n_epochs: PositiveInt = 1,
        num_samples: PositiveInt = 2500,
        batch_size: PositiveInt = 500,
        seed: int = 0,
        classifier: str | None = None,
        feature_dir: str = "data/feature_nets",
        inception_weights: str | None = None,
        kid_subset_size: PositiveInt = 1000,
        raw_generator: bool = False,
        train_classifier: bool = True,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        if num_samples < 1 or batch_size < 1:
            raise ValueError("num_samples and batch_size must be positive")
        self.metrics = list(metrics) if metrics is not None else None
        self.every_n_epochs = every_n_epochs
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.settings = MetricSettings(
            classifier, feature_dir, inception_weights, kid_subset_size, train_classifier
        )
        self.raw_generator = raw_generator

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.metrics is not None:  # names, as on evaluate's command line: [fcd, class_coverage]
            kind = getattr(trainer.datamodule, "data_kind", "images")
            self.metrics = [
                build_metric(m, self.settings, kind) if isinstance(m, str) else m
                for m in self.metrics
            ]
        if self.metrics is None:
            self.metrics, skipped = applicable_metrics(trainer.datamodule, self.settings)
            for line in skipped if trainer.is_global_zero else ():
                log.info("evaluation skips %s", line)
        if trainer.fast_dev_run:
            return
        if trainer.is_global_zero:  # e.g. the digit classifier, trained once on first use
            for metric in self.metrics:
                metric.prepare(trainer.datamodule)
        trainer.strategy.barrier("evaluation metrics prepared")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.fast_dev_run or not self.metrics:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs != 0:
            return
        results: dict[str, float] = {}
        with use_averages(pl_module) as averaged:  # the average of G, when the run keeps one
            results.update(self.scores(pl_module, trainer.datamodule, "eval/"))
        if averaged and self.raw_generator:
            with use_averages(pl_module, enabled=False):
                results.update(self.scores(pl_module, trainer.datamodule, "eval/raw/"))
        pl_module.log_dict(results, on_step=False, on_epoch=True, sync_dist=True)

    def scores(self, pl_module: pl.LightningModule, datamodule: Any, prefix: str) -> dict:
        inputs = self.inputs(pl_module, datamodule)
        results: dict[str, float] = {}
        for metric in self.metrics:
            metric.check(inputs)
            results.update(metric.compute(inputs))
        return {f"{prefix}{name}": value for name, value in results.items()}

    def inputs(
        self, pl_module: pl.LightningModule, datamodule: Any
    ) -> EvaluationInputs | TranslationInputs | PairedInputs:
        """What the metrics score, from the module's networks and latent settings: the held-out
        pairs (paired translation), the test images (unpaired), or samples of its generator."""
        batch_size = min(self.batch_size, TRANSLATION_BATCH)  # full-size images
        if getattr(pl_module, "data_kind", "") == "paired":
            return PairedInputs(pl_module.generator, datamodule, batch_size, self.seed)
        if hasattr(pl_module, "translators"):
            return TranslationInputs(pl_module.translators(), datamodule, batch_size, self.seed)
        sampler = Sampler(pl_module.generator, **latent_settings(pl_module))
        return EvaluationInputs(sampler, datamodule, self.num_samples, self.batch_size, self.seed)
