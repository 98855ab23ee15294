"""Pix2Pix on MNIST outlines -> digits (offline): the CPU check of the Pix2Pix issue, one command.

    python experiments/pix2pix/run.py --data-dir ../shared/data [--out experiments/pix2pix]
        [overrides ...]

1. trains ``experiment=edges2digits_pix2pix`` through the CLI (the training split of the data);
2. scores the checkpoint with ``python -m gan_lightning.evaluate`` on the held-out test split:
   ``l1`` = mean |G(x) - y| against ``l1_input`` = mean |x - y| (returning the outline as is);
3. translates 16 held-out outlines with ``python -m gan_lightning.translate`` (the command a user
   runs on a folder) and reports the L1 of the images it wrote beside the in-process one;
4. copies the run's last grid (rows of input | output | target on held-out pairs) and the L1
   curve of training. Everything measured goes to ``results.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from gan_lightning.callbacks.sample_grid import grid_epoch
from gan_lightning.checkpoints import load_network
from gan_lightning.data.derived_pairs import EdgesToDigitsDataModule
from gan_lightning.data.transforms import to_uint8
from gan_lightning.generation import generate_in_eval_mode


def run(*args: str) -> subprocess.CompletedProcess:
    print("$", " ".join(args), flush=True)
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def l1_curve(metrics_csv: Path) -> list[tuple[int, float]]:
    """(batch, training L1 to the target) of every logged step."""
    with open(metrics_csv) as handle:
        return [
            (int(row["step"]), float(row["train/l1_step"]))
            for row in csv.DictReader(handle)
            if row.get("train/l1_step")
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--run-dir", default="outputs/pix2pix_edges2digits")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for the training run")
    args = parser.parse_args()
    out, run_dir = Path(args.out), Path(args.run_dir)
    if run_dir.exists():
        sys.exit(f"{run_dir} exists; remove it or pass --run-dir")
    data_dir = str(Path(args.data_dir).resolve())

    start = time.time()
    run(
        "-m",
        "gan_lightning",
        "experiment=edges2digits_pix2pix",
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={run_dir}",
        *args.overrides,
    )
    train_seconds = time.time() - start
    ckpt = run_dir / "checkpoints" / "last.ckpt"

    scores_file = run_dir / "eval.json"
    run("-m", "gan_lightning.evaluate", f"ckpt={ckpt}", f"out={scores_file}")
    scores = json.loads(scores_file.read_text())

    # the translate command on a folder of held-out outlines, checked against the test pairs
    data = EdgesToDigitsDataModule(data_dir)
    data.setup("fit")
    inputs, targets = data.test_set[list(range(16))]
    folder = run_dir / "outlines"
    folder.mkdir()
    for index, image in enumerate(to_uint8(inputs)):
        Image.fromarray(image[0].numpy()).save(folder / f"{index:02d}.png")
    translated = run_dir / "translated"
    run("-m", "gan_lightning.translate", f"ckpt={ckpt}", f"input={folder}", f"output={translated}")
    written = torch.stack(
        [pil_to_tensor(Image.open(translated / f"{i:02d}.png")) for i in range(16)]
    )
    translate_l1 = float((written.float() / 127.5 - 1 - targets).abs().mean())
    generator, _ = load_network(ckpt)
    in_process_l1 = float((generate_in_eval_mode(generator, inputs) - targets).abs().mean())

    out.mkdir(parents=True, exist_ok=True)
    last = max((run_dir / "samples").glob("epoch_*.png"), key=grid_epoch)
    shutil.copy(last, out / "edges2digits_final.png")
    curve = l1_curve(next((run_dir / "csv").rglob("metrics.csv")))
    with open(out / "l1_curve.csv", "w") as handle:
        handle.write("batch,train_l1\n" + "".join(f"{s},{v:.4f}\n" for s, v in curve))
    results = {
        "command": "python experiments/pix2pix/run.py --data-dir " + args.data_dir,
        "overrides": args.overrides,
        "train_seconds": round(train_seconds, 1),
        "held_out_pairs": scores["num_samples"],
        "held_out": scores["metrics"],
        "l1_ratio_output_to_input": scores["metrics"]["l1"] / scores["metrics"]["l1_input"],
        "l1_16_images_translate_command": translate_l1,
        "l1_16_images_in_process": in_process_l1,
        "train_l1_first_logged": curve[0][1] if curve else None,
        "train_l1_last_logged": curve[-1][1] if curve else None,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
