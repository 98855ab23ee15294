"""CycleGAN on the shared mnist2negative sample: the CPU check of issue 5, in one command.

    python experiments/cyclegan/run.py --data-dir ../shared/data [--out experiments/cyclegan]

1. trains ``experiment=mnist2negative_cyclegan`` (64x64 grey, seed networks, batch 4,
   3 epochs x 125 batches) through the CLI;
2. writes the cycle-consistency curve (``curve.csv``, ``curve.png``) from the run's metrics.csv
   and copies the last translation grids;
3. translates testA and testB with ``python -m gan_lightning.translate`` and checks that the
   digit survives: a digit classifier (``evaluate train_features``, 28 px) reads the label of
   each translated image (B images inverted back first) and compares it with the label in the
   file name ``NNNN_L.png``;
4. scores the checkpoint with ``python -m gan_lightning.evaluate`` (cycle L1 on the test sets).
Everything measured goes to ``results.json``.
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
from PIL import Image, ImageDraw
from torchvision.transforms.functional import pil_to_tensor

from gan_lightning.callbacks.sample_grid import grid_epoch
from gan_lightning.metrics.classifier import load_classifier


def run(*args: str) -> subprocess.CompletedProcess:
    print("$", " ".join(args), flush=True)
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def cycle_curve(metrics_csv: Path) -> list[tuple[int, float, float]]:
    """(batch, cycle_a, cycle_b) of every logged training step."""
    rows = []
    with open(metrics_csv) as handle:
        for row in csv.DictReader(handle):
            if row.get("train/cycle_a_step"):
                rows.append(
                    (
                        int(row["step"]),
                        float(row["train/cycle_a_step"]),
                        float(row["train/cycle_b_step"]),
                    )
                )
    return rows


def draw_curve(rows: list[tuple[int, float, float]], path: Path) -> None:
    """A plain line chart (no plotting library): cycle L1 of A (blue) and B (red) per batch."""
    width, height, margin = 640, 360, 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    top = max(max(a, b) for _, a, b in rows) * 1.05
    last = rows[-1][0]

    def point(step: int, value: float) -> tuple[float, float]:
        x = margin + (width - 2 * margin) * step / last
        y = height - margin - (height - 2 * margin) * value / top
        return x, y

    draw.line(
        [(margin, margin), (margin, height - margin), (width - margin, height - margin)], "black"
    )
    for fraction in (0.25, 0.5, 0.75, 1.0):
        y = point(0, top * fraction)[1]
        draw.text((2, y - 6), f"{top * fraction:.2f}", fill="black")
    draw.text((width // 2 - 60, height - margin + 12), f"batch (0..{last})", fill="black")
    for column, colour in ((1, (40, 90, 200)), (2, (200, 60, 40))):
        draw.line([point(r[0], r[column]) for r in rows], fill=colour, width=2)
    draw.text((width - 220, 10), "cycle L1: A->B->A blue, B->A->B red", fill="black")
    image.save(path)


@torch.no_grad()
def digits_kept(classifier, folder: Path, invert: bool) -> float:
    """Share of images in ``folder`` whose predicted digit equals the label in the file name."""
    files = sorted(folder.glob("*.png"))
    images = torch.stack([pil_to_tensor(Image.open(p).convert("L")) for p in files]).float()
    if invert:
        images = 255 - images
    predictions = classifier(images / 127.5 - 1).argmax(1)
    labels = torch.tensor([int(p.stem.split("_")[-1]) for p in files])
    return float((predictions == labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--work", default="outputs/cyclegan_experiment")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for the training run")
    args = parser.parse_args()
    data_dir, out, work = Path(args.data_dir).resolve(), Path(args.out), Path(args.work).resolve()
    source = data_dir / "mnist2negative"
    if not (source / "trainA").is_dir():
        sys.exit(
            f"{source}/trainA not found: point --data-dir at the folder holding mnist2negative/"
        )
    if work.exists():
        sys.exit(f"{work} exists; remove it or pass --work elsewhere")
    run_dir = work / "run"

    started = time.time()
    run(
        "-m",
        "gan_lightning",
        "experiment=mnist2negative_cyclegan",
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={run_dir}",
        *args.overrides,
    )
    train_seconds = time.time() - started
    ckpt = run_dir / "checkpoints" / "last.ckpt"

    rows = cycle_curve(run_dir / "csv" / "metrics.csv")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "curve.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["batch", "cycle_a", "cycle_b"])
        writer.writerows(rows)
    draw_curve(rows, out / "curve.png")
    grids = sorted((run_dir / "samples").glob("*_epoch_*.png"))
    last_epoch = max(map(grid_epoch, grids))
    for grid in grids:
        if grid_epoch(grid) == last_epoch:
            shutil.copy(grid, out / f"{grid.stem.rsplit('_epoch_', 1)[0]}_final.png")

    classifier_file = work / "mnist_28px_1ch.pt"
    run(
        "-m",
        "gan_lightning.evaluate",
        "train_features",
        "data=mnist",
        f"paths.data_dir={data_dir}",
        "data.image_size=28",
        f"metrics.classifier={classifier_file}",
    )
    classifier = load_classifier(classifier_file)
    for direction, domain in (("AtoB", "testA"), ("BtoA", "testB")):
        run(
            "-m",
            "gan_lightning.translate",
            f"ckpt={ckpt}",
            f"input={source / domain}",
            f"output={work / direction}",
            f"direction={direction}",
        )
    kept = {
        "real_testA": digits_kept(classifier, source / "testA", invert=False),
        "real_testB_inverted_back": digits_kept(classifier, source / "testB", invert=True),
        "AtoB_inverted_back": digits_kept(classifier, work / "AtoB", invert=True),
        "BtoA": digits_kept(classifier, work / "BtoA", invert=False),
    }
    run("-m", "gan_lightning.evaluate", f"ckpt={ckpt}", f"out={work / 'scores.json'}")
    scores = json.loads((work / "scores.json").read_text())["metrics"]

    first, final = rows[0], rows[-1]
    results = {
        "command": "python experiments/cyclegan/run.py " + " ".join(sys.argv[1:]),
        "train_seconds": round(train_seconds, 1),
        "logged_steps": len(rows),
        "first_logged": {"batch": first[0], "cycle_a": first[1], "cycle_b": first[2]},
        "last_logged": {"batch": final[0], "cycle_a": final[1], "cycle_b": final[2]},
        "cycle_ratio_last_to_first": (final[1] + final[2]) / (first[1] + first[2]),
        "test_scores": scores,
        "digit_kept": kept,
        "machine": f"{torch.get_num_threads()} torch threads, torch {torch.__version__}",
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
