"""Run the limited-data rows of experiments/toolkit/README.md and tabulate their distances.

Each row is ``experiment=limited_mnist_dcgan`` (or its DiffAugment variant) plus the row's
overrides, trained once per seed with ``python -m gan_lightning``; the evaluation callback logs
the Frechet classifier distance (``eval/fcd``, the project's digit classifier, 2,000 samples)
every 500 G updates. A run whose folder already says ``completed`` is read, not re-run, so the
script can be stopped and started again. Writes ``results_<limit>.json``, the table
(``table_<limit>.md``), a plot of the distance over training (``fcd_<limit>.png``) and each
row's final grid of seed 0 (``grids/``) beside this file.

Usage (the classifier first, once):
  python -m gan_lightning.evaluate train_features data=mnist paths.data_dir=DATA \\
      metrics.feature_dir=FEATURES
  python experiments/toolkit/run_limited.py --data-dir DATA --feature-dir FEATURES \\
      --runs-dir RUNS [--rows baseline,diffaugment] [--seeds 0,1,2] [--limit 100] [--jobs 1]
      [--g-updates 3000] [--tag _NAME]  (output names get the tag: results_100_NAME.json, ...)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw

from gan_lightning.callbacks.sample_grid import grid_epoch

HERE = Path(__file__).resolve().parent
HINGE_SN = ("model/loss=hinge", "model.discriminator.spectral_norm=true")
TRANSLATION = ("model/training/augment=diffaugment", "model.training.augment.policy=translation")
# The average of G does not change training, so the raw G of an EMA run is the row without it.
EMA = ("model.training.ema.decay=0.999", "callbacks.evaluation.raw_generator=true")
LAZY_R1 = ("model.training.r1_gamma=1", "model.training.r1_every=16")
LAZY_R1_GAMMA3 = ("model.training.r1_gamma=3", "model.training.r1_every=16")  # the toolkit's gamma
ROWS = {  # name -> (experiment, overrides)
    "baseline": ("limited_mnist_dcgan", ()),
    "diffaugment": ("limited_mnist_dcgan_diffaugment", ()),
    "toolkit": ("limited_mnist_dcgan_toolkit", ()),  # = hinge_sn_diffaugment_r1_gamma3
    "hinge_sn": ("limited_mnist_dcgan", HINGE_SN),
    "hinge_sn_diffaugment": ("limited_mnist_dcgan", (*HINGE_SN, *TRANSLATION)),
    "hinge_sn_ada": ("limited_mnist_dcgan", (*HINGE_SN, "model/training/augment=ada")),
    "hinge_sn_diffaugment_ema": (
        "limited_mnist_dcgan",
        (*HINGE_SN, *TRANSLATION, *EMA),
    ),
    "hinge_sn_diffaugment_r1": ("limited_mnist_dcgan", (*HINGE_SN, *TRANSLATION, *LAZY_R1)),
    "hinge_sn_diffaugment_ema_r1": (
        "limited_mnist_dcgan",
        (*HINGE_SN, *TRANSLATION, *EMA, *LAZY_R1),
    ),
    "hinge_sn_r1": ("limited_mnist_dcgan", (*HINGE_SN, *LAZY_R1)),
    "hinge_sn_ada_translation_r1_gamma3": (
        "limited_mnist_dcgan",
        (
            *HINGE_SN,
            "model/training/augment=ada",
            "model.training.augment.policy=translation",
            *LAZY_R1_GAMMA3,
        ),
    ),
    "hinge_sn_r1_gamma3": ("limited_mnist_dcgan", (*HINGE_SN, *LAZY_R1_GAMMA3)),
    "hinge_sn_ada_r1_gamma3": (
        "limited_mnist_dcgan",
        (*HINGE_SN, "model/training/augment=ada", *LAZY_R1_GAMMA3),
    ),
    **{
        f"hinge_sn_diffaugment_r1_gamma{gamma}": (
            "limited_mnist_dcgan",
            (
                *HINGE_SN,
                *TRANSLATION,
                f"model.training.r1_gamma={gamma}",
                "model.training.r1_every=16",
            ),
        )
        for gamma in ("0.1", "2", "3", "5", "10")
    },
}
# Rows read from another row's runs: (that row, the metric's column).
SCORED_IN = {
    "hinge_sn_diffaugment": ("hinge_sn_diffaugment_ema", "eval/raw/fcd"),
    "hinge_sn_diffaugment_r1": ("hinge_sn_diffaugment_ema_r1", "eval/raw/fcd"),
}
BATCH, G_UPDATES = 64, 3000  # both experiments' data.loader.batch_size and training length
COLOURS = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#17becf",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
]


def evaluation_epochs(limit: int, g_updates: int = G_UPDATES) -> int:
    """Epochs between evaluations, grids and checkpoints: about every 500 G updates and at the
    last one. The experiments count epochs (one batch each at 100 images; the last partial
    batch is dropped), so a larger subset needs fewer epochs between evaluations."""
    batches = limit // BATCH
    if batches < 1 or g_updates % batches:
        raise SystemExit(
            f"--limit {limit} gives {batches} batches of {BATCH} an epoch, which do not divide "
            f"{g_updates} G updates; choose a limit whose batches do (100, 1000, 1920, ...)"
        )
    epochs = g_updates // batches
    return min(
        (d for d in range(1, epochs + 1) if epochs % d == 0), key=lambda d: abs(d * batches - 500)
    )


def rows_dir(args: argparse.Namespace) -> Path:
    """The study's run folders; a longer or shorter training than the experiments' gets its own,
    so that a completed run of another length is never read as this one."""
    length = "" if args.g_updates == G_UPDATES else f"_g{args.g_updates}"
    return Path(args.runs_dir) / f"limit_{args.limit}{length}"


def run_one(row: str, seed: int, args: argparse.Namespace) -> Path:
    run_dir = rows_dir(args) / row / f"seed_{seed}"
    status = run_dir / "status.json"
    if status.exists() and json.loads(status.read_text()).get("status") == "completed":
        return run_dir
    experiment, overrides = ROWS[row]
    every = evaluation_epochs(args.limit, args.g_updates)
    command = [
        sys.executable, "-m", "gan_lightning", f"experiment={experiment}", *overrides,
        f"seed={seed}", f"data.limit={args.limit}", f"paths.data_dir={args.data_dir}",
        f"trainer.max_steps={2 * args.g_updates}",  # global_step counts D and G updates
        f"metrics.feature_dir={args.feature_dir}", f"hydra.run.dir={run_dir}",
        "logger=csv", "callbacks.progress_bar=null",
        *(f"callbacks.{name}.every_n_epochs={every}"
          for name in ("sample_grid", "model_checkpoint", "evaluation")),
    ]  # fmt: skip
    threads = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if args.jobs > 1 else {}
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **threads})
    if result.returncode != 0:
        raise SystemExit(f"{row} seed {seed} failed:\n{result.stderr[-3000:]}")
    (run_dir / "wall_seconds.txt").write_text(f"{time.time() - started:.1f}\n")
    return run_dir


def distances(run_dir: Path, column: str = "eval/fcd") -> list[tuple[int, float]]:
    """(G updates, the column's value) in step order. The CSV's step counts batches (one D and one G
    update each), 0-based: the evaluation after 500 batches is logged at step 499."""
    points = []
    with open(run_dir / "csv" / "metrics.csv") as handle:
        for line in csv.DictReader(handle):
            if line.get(column):
                points.append((int(line["step"]) + 1, float(line[column])))
    return sorted(points)


def plot(curves: dict[str, list[tuple[int, float]]], path: Path) -> None:
    """Mean distance over the seeds against G updates, one line per row. The axis stops at twice
    the worst final distance or the worst second evaluation, whichever is higher, so that one
    row's early start cannot flatten the rest."""
    width, height, margin = 720, 420, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    xs = [x for points in curves.values() for x, _ in points]
    ys = [y for points in curves.values() for _, y in points]
    worst_final = max(points[-1][1] for points in curves.values())
    worst_second = max(points[min(1, len(points) - 1)][1] for points in curves.values())
    x_max, y_max = max(xs), min(max(ys), max(2 * worst_final, worst_second)) * 1.05

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            margin + x / x_max * (width - 2 * margin),
            height - margin - min(y, y_max) / y_max * (height - 2 * margin),
        )

    draw.line([at(0, 0), at(x_max, 0)], fill="black")
    draw.line([at(0, 0), at(0, y_max)], fill="black")
    for tick in range(0, x_max + 1, 500):
        draw.text((at(tick, 0)[0] - 10, height - margin + 5), str(tick), fill="black")
    for i in range(6):
        value = y_max * i / 5
        draw.text((5, at(0, value)[1] - 6), f"{value:.0f}", fill="black")
    draw.text((width / 2 - 60, height - 20), "G updates", fill="black")
    title = "Frechet classifier distance (mean over seeds)"
    if max(ys) > y_max:
        title += f"; values above {y_max:.0f} drawn at the top"
    draw.text((margin, 10), title, fill="black")
    for i, (name, points) in enumerate(curves.items()):
        colour = COLOURS[i % len(COLOURS)]
        draw.line([at(x, y) for x, y in points], fill=colour, width=2)
        draw.text((width - margin - 200, margin + 14 * i), name, fill=colour)
    image.save(path)


def mean_curve(result: dict) -> list[tuple[int, float]]:
    """The distance after each evaluation, averaged over the row's seeds."""
    runs = [dict(map(tuple, r["fcd"])) for r in result["seeds"].values()]
    return [(x, statistics.mean(run[x] for run in runs)) for x in sorted(runs[0])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--feature-dir", required=True)
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--rows", default="baseline,diffaugment")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (1 thread each if > 1)")
    parser.add_argument("--g-updates", type=int, default=G_UPDATES, help="training length")
    parser.add_argument("--tag", default="", help="appended to the output names (another study)")
    args = parser.parse_args()
    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    # a limit the evaluations cannot follow fails before any run
    evaluation_epochs(args.limit, args.g_updates)
    results = {}
    (HERE / "grids").mkdir(exist_ok=True)
    runs = {(SCORED_IN.get(row, (row,))[0], seed) for row in rows for seed in seeds}
    # Seed by seed, so that a study stopped early has every row at its first seeds.
    in_order = sorted(runs, key=lambda run: (run[1], run[0]))
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(lambda run: run_one(*run, args), in_order))
    for row in rows:
        per_seed = {}
        source, column = SCORED_IN.get(row, (row, "eval/fcd"))
        for seed in seeds:
            run_dir = run_one(source, seed, args)
            points = distances(run_dir, column)
            wall = float((run_dir / "wall_seconds.txt").read_text())
            final = json.loads((run_dir / "status.json").read_text())["metrics"]
            scores = column.rsplit("/", 1)[0]  # eval, or eval/raw for the raw G of an EMA run
            augment_p = distances(run_dir, "train/augment_p_step")  # ADA's p, when it has one
            per_seed[seed] = {
                "fcd": points,
                **({"augment_p": augment_p} if augment_p else {}),
                "final": points[-1][1],
                "wall_seconds": wall,
                "final_metrics": {
                    name: final[key]
                    for name, key in (
                        ("eval/precision", f"{scores}/precision"),
                        ("eval/recall", f"{scores}/recall"),
                        ("eval/coverage", f"{scores}/coverage"),
                        ("train/d_loss", "train/d_loss"),
                        ("train/augment_p", "train/augment_p"),
                    )
                    if key in final
                },
            }
            print(f"{row} seed {seed}: final fcd {points[-1][1]:.2f} ({wall:.0f} s)", flush=True)
        finals = [r["final"] for r in per_seed.values()]
        results[row] = {
            "experiment": ROWS[row][0],
            "overrides": list(ROWS[row][1]),
            "scored_in": f"{source} ({column})",
            "seeds": per_seed,
            "mean": statistics.mean(finals),
            "std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
        }
        if source == row:  # a grid shows the average of G when there is one
            grids = sorted((rows_dir(args) / row).glob("seed_*"))
            last = max((grids[0] / "samples").glob("epoch_*.png"), key=grid_epoch)
            shutil.copy(last, HERE / "grids" / f"limit_{args.limit}{args.tag}_{row}.png")
    suffix = f"_{args.limit}{args.tag}"
    previous = HERE / f"results{suffix}.json"
    merged = json.loads(previous.read_text()) if previous.exists() else {}
    merged.update(results)
    previous.write_text(json.dumps(merged, indent=2) + "\n")
    base = merged.get("baseline")
    lines = [
        f"| row (data.limit={args.limit}) | final FCD, mean +- std over the seeds "
        "| x baseline | per seed |",
        "|---|---|---|---|",
    ]
    for row, result in merged.items():
        ratio = f"{result['mean'] / base['mean']:.2f}" if base else "-"
        seeds_text = ", ".join(f"{r['final']:.1f}" for r in result["seeds"].values())
        lines.append(
            f"| {row} | {result['mean']:.1f} +- {result['std']:.1f} | {ratio} | {seeds_text} |"
        )
    (HERE / f"table{suffix}.md").write_text("\n".join(lines) + "\n")
    plot({row: mean_curve(result) for row, result in merged.items()}, HERE / f"fcd{suffix}.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
