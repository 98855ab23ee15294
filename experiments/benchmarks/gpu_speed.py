"""Training images per second with and without each GPU speed option, through the framework.

Cases: DCGAN at 64x64 (batch 128, ``model=dcgan data=celeba``) and CycleGAN at 256x256 (batch 1
and 4, ``model=cyclegan data=summer2winter data.image_size=256``), each built from the configs
exactly as ``python -m gan_lightning`` builds it. Options: fp32 (``32-true``), ``bf16-mixed``,
``16-mixed`` (the per-side gradient scalers), channels_last, ``cudnn.benchmark``,
``torch.compile`` and their combinations (``OPTIONS``).

The batches are random images already on the device, cycled, so what is timed is the training
step (Lightning's loop, the shared adversarial step, the networks), not decoding. Each option
trains its own fresh model: ``warmup`` batches (compilation, the autotuner), then ``timed``
batches between two ``cuda.synchronize()`` calls. Printed: images/s and the speed-up over fp32
of the same case, and the peak device memory. Usage (about 5 minutes on one H100/H200-class GPU):

    python experiments/benchmarks/gpu_speed.py --out experiments/benchmarks/gpu_results.json

``--device cpu --quick`` runs every option but ``compile`` on narrow networks at 32x32 on the
CPU in about a minute: a check that the script works, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from typing import Any

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from gan_lightning.callbacks.speed import SpeedOptions
from gan_lightning.precision import precision_arguments

CASES = {  # name -> (overrides, batch sizes, image size, quick image size)
    "dcgan_64": (["model=dcgan", "data=celeba"], (128,), 64, 32),
    "cyclegan_256": (["model=cyclegan", "data=summer2winter"], (1, 4), 256, 32),
}
QUICK = {  # narrow networks for --quick: it checks that every option runs, it measures nothing
    "dcgan_64": ["model.generator.base_width=8", "model.discriminator.base_width=8"],
    "cyclegan_256": [
        "model.generator_ab.base_width=8",
        "model.generator_ab.num_blocks=1",
        "model.discriminator_a.base_width=8",
    ],
}
OPTIONS: dict[str, dict[str, Any]] = {
    "fp32": {},
    "bf16-mixed": {"precision": "bf16-mixed"},
    "16-mixed": {"precision": "16-mixed"},
    "channels_last": {"channels_last": True},
    "cudnn.benchmark": {"benchmark": True},
    "compile": {"compile": True},
    "bf16 + channels_last + benchmark": {
        "precision": "bf16-mixed",
        "channels_last": True,
        "benchmark": True,
    },
    "bf16 + channels_last + benchmark + compile": {
        "precision": "bf16-mixed",
        "channels_last": True,
        "benchmark": True,
        "compile": True,
    },
}


class WindowTimer(pl.Callback):
    """Seconds from the start of batch ``warmup`` to the end of the last batch, the device
    synchronised at both ends."""

    def __init__(self, warmup: int, last: int) -> None:
        self.warmup, self.last = warmup, last
        self.start = self.end = 0.0

    @staticmethod
    def _now(pl_module: pl.LightningModule) -> float:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        return time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            self.start = self._now(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.last:
            self.end = self._now(pl_module)


def device_batches(name: str, batch_size: int, size: int, device: str) -> list[Any]:
    """A few random batches in [-1, 1] on the device, in the case's batch format."""
    generator = torch.Generator().manual_seed(0)

    def images() -> torch.Tensor:
        x = torch.rand(batch_size, 3, size, size, generator=generator) * 2 - 1
        return x.to(device)

    if name.startswith("cyclegan"):
        return [(images(), images()) for _ in range(4)]
    return [(images(), torch.zeros(batch_size, dtype=torch.long, device=device)) for _ in range(4)]


class Cycled:
    """An epoch of ``n`` batches, taken in turn from a few prepared ones."""

    def __init__(self, batches: list[Any], n: int) -> None:
        self.batches, self.n = batches, n

    def __iter__(self):
        return (self.batches[i % len(self.batches)] for i in range(self.n))

    def __len__(self) -> int:
        return self.n


def measure(
    name: str,
    batch_size: int,
    option: str,
    device: str,
    size: int,
    warmup: int,
    timed: int,
    extra: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """One fresh model of case ``name`` trained for ``warmup + timed`` batches with ``option``
    (``extra``: more config overrides)."""
    settings = OPTIONS[option]
    overrides, _, _, _ = CASES[name]
    with initialize_config_module("gan_lightning.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                *overrides,
                *extra,
                f"data.image_size={size}",
                f"data.loader.batch_size={batch_size}",
                f"trainer.precision={settings.get('precision', '32-true')}",
                f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}",
                f"trainer.benchmark={str(settings.get('benchmark', False)).lower()}",
            ],
        )
    torch.manual_seed(0)
    torch._dynamo.reset()  # each compiled case compiles its own networks
    model = instantiate(cfg.model)
    batches = Cycled(device_batches(name, batch_size, size, device), warmup + timed)
    timer = WindowTimer(warmup, warmup + timed - 1)
    speed = SpeedOptions(
        channels_last=settings.get("channels_last", False), compile=settings.get("compile", False)
    )
    with tempfile.TemporaryDirectory() as root:
        trainer = instantiate(
            cfg.trainer,
            default_root_dir=root,
            devices=1,
            max_epochs=1,
            max_steps=-1,
            limit_train_batches=None,
            callbacks=[timer, speed],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            **precision_arguments(cfg.trainer),
        )
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        trainer.fit(model, train_dataloaders=batches)
    seconds = timer.end - timer.start
    return {
        "case": name,
        "batch_size": batch_size,
        "option": option,
        "images_per_s": round(batch_size * timed / seconds, 1),
        "ms_per_batch": round(seconds / timed * 1e3, 3),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if device == "cuda"
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--quick", action="store_true", help="32x32, few batches, no compile")
    parser.add_argument("--warmup", type=int, default=15, help="batches before timing")
    parser.add_argument("--timed", type=int, default=50, help="timed batches per option")
    parser.add_argument("--options", nargs="*", default=None, help=f"of: {', '.join(OPTIONS)}")
    parser.add_argument("--out", default=None, help="write the results as JSON")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device here; use --device cpu --quick to check the script")
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    options = args.options or [o for o in OPTIONS if not (args.quick and "compile" in o)]
    warmup, timed = (1, 2) if args.quick else (args.warmup, args.timed)
    machine = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
    results: dict[str, Any] = {
        "machine": f"{machine}, torch {torch.__version__}, lightning {pl.__version__}",
        "warmup": warmup,
        "timed": timed,
        "rows": [],
    }
    print(f"{'case':<13} {'batch':>5} {'option':<44} {'img/s':>9} {'x fp32':>7} {'peak GB':>8}")
    for name, (_, batch_sizes, size, quick_size) in CASES.items():
        for batch_size in batch_sizes:
            base = None
            for option in options:
                try:
                    row = measure(
                        name,
                        batch_size,
                        option,
                        args.device,
                        quick_size if args.quick else size,
                        warmup,
                        timed,
                        QUICK[name] if args.quick else (),
                    )
                except Exception as error:  # one failing option must not lose the others
                    row = {"case": name, "batch_size": batch_size, "option": option}
                    row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
                    print(f"{name:<13} {batch_size:>5} {option:<44} failed: {row['error']}")
                    results["rows"].append(row)
                    continue
                base = row["images_per_s"] if option == "fp32" else base
                row["speedup_vs_fp32"] = round(row["images_per_s"] / base, 3) if base else None
                results["rows"].append(row)
                speedup = f"{row['speedup_vs_fp32']:.2f}" if base else "-"
                memory = "-" if row["peak_memory_gb"] is None else f"{row['peak_memory_gb']:.2f}"
                print(
                    f"{name:<13} {batch_size:>5} {option:<44} {row['images_per_s']:>9.1f} "
                    f"{speedup:>7} {memory:>8}",
                    flush=True,
                )
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=2)
            handle.write("\n")


if __name__ == "__main__":
    main()
