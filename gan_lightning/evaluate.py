"""Score a checkpoint, or train the digit feature classifier the scores need.

python -m gan_lightning.evaluate ckpt=PATH [data=...] [metric=all] [n=5000] [out=FILE]
python -m gan_lightning.evaluate train_features data=mnist [paths.data_dir=...] [epochs=3]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gan_lightning.commands import compose, run_command, write_json_atomic
from gan_lightning.config_check import check_config
from gan_lightning.errors import UserError
from gan_lightning.inference import (
    CYCLE_GENERATORS,
    PAIRED,
    UNPAIRED,
    StoredRun,
    unknown_variant,
    variant_kind,
)
from gan_lightning.metrics.base import EvaluationInputs, is_image_data
from gan_lightning.metrics.classifier import classifier_path, train_and_save_classifier
from gan_lightning.metrics.paired import PairedInputs
from gan_lightning.metrics.selection import MetricSettings, applicable_metrics, build_metric
from gan_lightning.metrics.translation import TranslationInputs
from gan_lightning.sampling import Sampler

Inputs = EvaluationInputs | TranslationInputs | PairedInputs


def build_data(data_cfg: DictConfig) -> Any:
    check_config(OmegaConf.create({"data": data_cfg}))
    try:
        datamodule = instantiate(data_cfg)
    except Exception as error:
        cause = error.__cause__ or error
        raise UserError(f"data: {cause}") from None
    if hasattr(datamodule, "validate"):
        datamodule.validate()
    datamodule.setup("fit")
    return datamodule


def train_features(cfg: DictConfig) -> Path:
    if cfg.get("data") is None:
        raise UserError("train_features needs a data set: add data=mnist (or digits, svhn)")
    datamodule = build_data(OmegaConf.create(OmegaConf.to_container(cfg.data, resolve=True)))
    if not is_image_data(datamodule):
        raise UserError(f"train_features needs a digit image set, not {cfg.data._target_}")
    path = Path(cfg.metrics.classifier or classifier_path(cfg.metrics.feature_dir, datamodule))
    print(f"training the feature classifier on {len(datamodule.train_set)} images ...")
    accuracy = train_and_save_classifier(
        datamodule, path, int(cfg.epochs), int(cfg.seed), data=cfg.data._target_
    )
    print(f"held-out accuracy: {accuracy:.4f}")
    print(f"classifier: {path}")
    return path


def _data_config(cfg: DictConfig, run_config: DictConfig, argv: Sequence[str]) -> DictConfig:
    """The data group given on the command line, else the checkpoint's; size and channels
    follow the checkpoint unless given, so ``data=mnist`` fits a 32 px MNIST generator."""
    if cfg.get("data") is None:
        data = run_config.data
        extra = [a for a in argv if a.startswith("data.")]
        return OmegaConf.merge(data, OmegaConf.from_dotlist([a[5:] for a in extra]))
    data = OmegaConf.create(OmegaConf.to_container(cfg.data, resolve=True))
    for key in ("image_size", "channels"):
        given = any(a.startswith(f"data.{key}=") for a in argv)
        if not given and key in data and key in run_config.data:
            data[key] = run_config.data[key]
    return data


def evaluate(cfg: DictConfig, argv: Sequence[str]) -> dict[str, Any]:
    if not cfg.ckpt:
        raise UserError("give a checkpoint: ckpt=PATH (or train_features data=...)")
    extras, kind, networks, run_config = _scored_networks(cfg)
    data_cfg = _data_config(cfg, run_config, argv)
    datamodule = build_data(data_cfg)
    data_kind = getattr(datamodule, "data_kind", "images")
    if (data_kind == PAIRED) != (kind == PAIRED):
        raise UserError("a Pix2Pix checkpoint is scored on a paired data set, and only it")
    settings = MetricSettings(**OmegaConf.to_container(cfg.metrics, resolve=True))
    skipped: list[str] = []
    if cfg.metric == "all":
        metrics, skipped = applicable_metrics(datamodule, settings)
    else:
        metrics = [build_metric(str(cfg.metric), settings, data_kind)]
    if not metrics:
        raise UserError("no metric applies: " + "; ".join(skipped))
    inputs = _inputs(cfg, kind, networks, run_config, datamodule, extras.get("latent"))
    for metric in metrics:
        metric.check(inputs)
        metric.prepare(datamodule)  # e.g. the digit classifier, trained once on first use
    results: dict[str, float] = {}
    for metric in metrics:
        results.update(metric.compute(inputs))
    out = Path(cfg.out) if cfg.out else Path(cfg.ckpt).with_suffix(".eval.json")
    write_json_atomic(
        out,
        {
            "checkpoint": str(cfg.ckpt),
            "data": OmegaConf.to_container(data_cfg, resolve=True),
            "num_samples": inputs.num_samples,
            "seed": int(cfg.seed),
            "metrics": results,
            "skipped": skipped,
        },
    )
    width = max([16, *map(len, results)])
    for name, value in sorted(results.items()):
        print(f"{name:>{width}}: {value:.6g}")
    for line in skipped:
        print(f"skipped: {line}")
    print(f"written: {out}")
    return results


def _scored_networks(cfg: DictConfig) -> tuple[dict[str, Any], str, dict[str, Any], DictConfig]:
    """The checkpoint's extras, variant kind, networks and run config. The checkpoint itself
    (optimizer state included, often twice the networks' size) is freed on return, before
    scoring needs the memory."""
    run = StoredRun.read(cfg.ckpt)
    kind = variant_kind(run.extras)
    if kind is None:
        raise unknown_variant(cfg.ckpt, run.extras)
    networks, run_config = run.networks(ema=bool(cfg.get("ema", True)))
    return run.extras, kind, networks, run_config


def _inputs(
    cfg: DictConfig,
    kind: str | None,
    networks: dict[str, Any],
    run_config: Any,
    datamodule: Any,
    latent: dict[str, Any] | None,
) -> Inputs:
    """What the metrics score: the translations of the held-out pairs (Pix2Pix), of both test
    sets (CycleGAN), or ``n`` samples of the generator."""
    batch_size, seed = int(cfg.batch_size), int(cfg.seed)
    if kind == PAIRED:
        return PairedInputs(networks["generator"], datamodule, batch_size, seed)
    if kind == UNPAIRED:
        if getattr(datamodule, "data_kind", "images") != UNPAIRED:
            raise UserError("a CycleGAN checkpoint is scored on an unpaired data set (data=...)")
        translators = {d: networks[name] for d, name in CYCLE_GENERATORS.items()}
        return TranslationInputs(translators, datamodule, batch_size, seed)
    if "generator" not in networks:
        raise UserError(f"{cfg.ckpt} has no generator to score")
    sampler = Sampler.from_config(networks["generator"], run_config, latent)
    inputs = EvaluationInputs(sampler, datamodule, int(cfg.n), batch_size, seed)
    _check_shapes(sampler, datamodule, inputs)
    return inputs


def _check_shapes(sampler: Sampler, datamodule: Any, inputs: EvaluationInputs) -> None:
    probe = next(EvaluationInputs(sampler, datamodule, 1, 1, inputs.seed).fake_batches())[0]
    if is_image_data(datamodule):
        expected = (datamodule.channels, datamodule.image_size, datamodule.image_size)
        if tuple(probe.shape[1:]) != expected:
            raise UserError(
                f"the generator makes {tuple(probe.shape[1:])} samples, the data are {expected}; "
                "evaluate on the data the model was trained on (set data.image_size / channels)"
            )


def main(argv: Sequence[str]) -> None:
    argv = list(argv)
    command = argv.pop(0) if argv and "=" not in argv[0] else "score"
    if command not in ("score", "train_features"):
        raise UserError(f"unknown command {command!r}; use train_features or key=value arguments")
    cfg = compose("evaluate", [a for a in argv if not a.startswith("data.") or _has_data(argv)])
    torch.manual_seed(int(cfg.seed))
    if command == "train_features":
        train_features(cfg)
    else:
        evaluate(cfg, argv)


def _has_data(argv: Sequence[str]) -> bool:
    return any(a.startswith("data=") for a in argv)


if __name__ == "__main__":
    run_command(main)
