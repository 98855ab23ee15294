"""The mode-collapse lab: plain GAN, PacGAN2, PacGAN4 and GAN + minibatch std on the 2-D ring
and grid, over several seeds, beside the figures published by PacGAN and VEEGAN.

    python experiments/mode_collapse/run_lab.py [--seeds 10] [--jobs 2] [--out DIR]

Each run is ``python -m gan_lightning experiment=mode_collapse_<data> <remedy overrides>
seed=S data.seed=S`` in its own process (OMP_NUM_THREADS=1). Run folders go to ``--work``
(default: a temporary folder, not kept). Writes ``results.csv`` (one row per run: final eval
metrics, wall seconds, status), ``table.md`` (mean ± std over seeds) and one final scatter plot
per (data set, remedy) for the first seed, ``<data>_<remedy>.png``, into ``--out``, then prints
the table. A failed run is recorded as failed; the lab goes on.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gan_lightning.callbacks.sample_grid import grid_epoch

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

DATASETS = {"ring": 8, "grid": 25}  # name -> number of modes
EMA = ("model.training.ema.decay=0.999", "callbacks.evaluation.raw_generator=true")
HINGE_SN = ("model/loss=hinge", "model.discriminator.spectral_norm=true")
R1_GAMMA = 1.0  # chosen by a one-seed probe of 0.1 and 1 on the grid (README)
R1 = ("model.training.r1_gamma=R1_GAMMA",)
REMEDIES = {  # name -> (label, overrides)
    "gan": ("GAN", []),
    "pacgan2": ("PacGAN2", ["model.pack=2"]),
    "pacgan4": ("PacGAN4", ["model.pack=4"]),
    "mbstd": ("GAN + minibatch std", ["model.discriminator.minibatch_std=true"]),
    # The toolkit (issue 20). An average of G leaves training as it is, so its runs also score
    # the raw G ("raw G" rows): the same trajectory as the row without the average.
    "ema": ("GAN + EMA of G", [*EMA]),
    "hinge_sn": ("GAN, hinge + spectral norm", [*HINGE_SN]),
    "r1": ("GAN + R1", [*R1]),
    "toolkit": ("hinge + SN + R1 + EMA of G", [*HINGE_SN, *R1, *EMA]),
    "r1_ema": ("GAN + R1 + EMA of G", [*R1, *EMA]),
}
AVERAGED = {name for name, (_, overrides) in REMEDIES.items() if EMA[0] in overrides}
METRICS = ("modes", "high_quality", "reverse_kl")
RAW = tuple(f"raw_{name}" for name in METRICS)  # the raw G of a run that keeps an average
FIELDS = ["data", "remedy", "seed", "status", *METRICS, *RAW, "wall_s", "run_dir", "error"]

# Transcribed from the papers' tables (not re-derived here): (modes, high-quality %, reverse KL)
# as "mean±std" strings; VEEGAN reports no reverse KL and no std.
PACGAN = {  # Lin et al. (2018), Table 1
    "ring": {
        "GAN": ("6.3±0.5", "98.2±0.2", "0.45±0.09"),
        "ALI": ("6.6±0.3", "97.6±0.4", "0.36±0.04"),
        "Minibatch Disc.": ("4.3±0.8", "36.6±8.8", "1.93±0.11"),
        "PacGAN2": ("7.9±0.1", "95.6±2.0", "0.07±0.03"),
        "PacGAN3": ("7.8±0.1", "97.7±0.3", "0.10±0.02"),
        "PacGAN4": ("7.8±0.1", "95.9±1.4", "0.07±0.02"),
    },
    "grid": {
        "GAN": ("17.3±0.8", "94.8±0.7", "0.70±0.07"),
        "ALI": ("24.1±0.4", "95.7±0.6", "0.14±0.03"),
        "Minibatch Disc.": ("23.8±0.2", "79.9±3.2", "0.17±0.03"),
        "PacGAN2": ("23.8±0.7", "91.3±0.8", "0.13±0.04"),
        "PacGAN3": ("24.6±0.4", "94.2±0.4", "0.06±0.02"),
        "PacGAN4": ("24.8±0.2", "93.6±0.6", "0.04±0.01"),
    },
}
VEEGAN = {  # Srivastava et al. (2017), Table 1
    "ring": {
        "GAN": ("1.0", "99.3"),
        "ALI": ("2.8", "0.13"),
        "Unrolled GAN": ("7.6", "35.6"),
        "VEEGAN": ("8.0", "52.9"),
    },
    "grid": {
        "GAN": ("3.3", "0.5"),
        "ALI": ("15.8", "1.6"),
        "Unrolled GAN": ("23.6", "16.0"),
        "VEEGAN": ("24.6", "40.0"),
    },
}


def run_one(data: str, remedy: str, seed: int, work: Path, timeout: float) -> dict:
    """Train one model in a subprocess; return its results.csv row (never raises)."""
    run_dir = work / f"{data}_{remedy}_seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "gan_lightning",
        f"experiment=mode_collapse_{data}",
        *REMEDIES[remedy][1],
        f"seed={seed}",
        f"data.seed={seed}",
        f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    row = {"data": data, "remedy": remedy, "seed": seed, "run_dir": str(run_dir), "error": ""}
    start = time.perf_counter()
    try:
        with open(run_dir / "lab.log", "w") as log:
            proc = subprocess.run(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
            )
        returncode = proc.returncode
    except subprocess.TimeoutExpired:
        returncode = None
    except OSError as error:
        returncode, row["error"] = -1, str(error)
    row["wall_s"] = round(time.perf_counter() - start, 1)
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        status = {}
    metrics = status.get("metrics") or {}
    values = {name: metrics.get(f"eval/{name}") for name in METRICS}
    finished = status.get("status") in ("completed", "finished")
    ok = returncode == 0 and finished and values["modes"] is not None
    row["status"] = "ok" if ok else "failed"
    if not ok and not row["error"]:
        row["error"] = (
            "timeout"
            if returncode is None
            else str(status.get("error") or f"exit {returncode}, status {status.get('status')}")
        )[:200]
    for name in METRICS:
        value = values[name]
        row[name] = "" if value is None else float(value)
        raw = metrics.get(f"eval/raw/{name}")
        row[f"raw_{name}"] = "" if raw is None else float(raw)
    return row


def mean_std(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    values = [v * scale for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def as_float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def make_table(rows: list[dict]) -> str:
    lines = []
    for data, k in DATASETS.items():
        if not any(r["data"] == data for r in rows):
            continue
        title = "2-D ring (8 modes)" if data == "ring" else "2-D grid (25 modes)"
        lines += [
            f"### {title}",
            "",
            f"| | modes (max {k}) | high quality (%) | reverse KL | wall s / run | runs ok |",
            "|---|---|---|---|---|---|",
        ]
        for remedy, (label, _) in REMEDIES.items():
            mine = [r for r in rows if r["data"] == data and r["remedy"] == remedy]
            if not mine:
                continue
            good = [r for r in mine if r["status"] == "ok"]
            walls = [as_float(r["wall_s"]) for r in mine]
            wall = mean_std([w for w in walls if w is not None], digits=0)
            runs = f"{len(good)}/{len(mine)}"
            scored = [("", label)] + ([("raw_", f"{label}, raw G")] if remedy in AVERAGED else [])
            for prefix, name in scored:
                modes = mean_std([as_float(r[f"{prefix}modes"]) for r in good], digits=1)
                hq = [as_float(r[f"{prefix}high_quality"]) for r in good]
                hq = mean_std(hq, scale=100, digits=1)
                rkl = mean_std([as_float(r[f"{prefix}reverse_kl"]) for r in good])
                lines.append(f"| **{name} (ours)** | {modes} | {hq} | {rkl} | {wall} | {runs} |")
        for label, (modes, hq, rkl) in PACGAN[data].items():
            lines.append(f"| {label} (PacGAN paper) | {modes} | {hq} | {rkl} | | |")
        for label, (modes, hq) in VEEGAN[data].items():
            lines.append(f"| {label} (VEEGAN paper) | {modes} | {hq} | | | |")
        lines.append("")
    lines += [
        "Ours: mean ± std over the runs counted in the last column (seed = data.seed = 0, 1, "
        "...), final epoch, 2,500 generated samples; wall s / run includes the ~7 s process "
        "start-up.",
        "Paper rows were transcribed from PacGAN (Lin et al. 2018) Table 1 and VEEGAN "
        "(Srivastava et al. 2017) Table 1, not re-derived here; both papers trained far longer "
        "(PacGAN: 400 epochs of 100,000 samples, G 4x400 BN, D 3x200 maxout, lr 1e-4) and "
        "VEEGAN's ring has radius 2 and std 0.02.",
        "",
    ]
    return "\n".join(lines)


def write_results(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "run_dir": Path(row["run_dir"]).name})


def earlier_rows(path: Path, rerun: set[tuple[str, str]]) -> list[dict]:
    """The rows of an earlier results.csv whose (data, remedy) this call does not re-run, so
    a lab can be run a few remedies at a time."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [r for r in csv.DictReader(handle) if (r["data"], r["remedy"]) not in rerun]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--work", type=Path, default=None, help="run folders (default: tmp)")
    parser.add_argument("--data", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--remedies", nargs="+", default=list(REMEDIES), choices=list(REMEDIES))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--r1-gamma", type=float, default=R1_GAMMA, help="R1's weight in the lab")
    args = parser.parse_args(argv)
    for remedy, (label, overrides) in REMEDIES.items():
        REMEDIES[remedy] = (label, [o.replace("R1_GAMMA", str(args.r1_gamma)) for o in overrides])

    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="mode_collapse_"))
    work.mkdir(parents=True, exist_ok=True)
    jobs = [(d, r, s) for d in args.data for r in args.remedies for s in range(args.seeds)]
    print(f"{len(jobs)} runs, {args.jobs} at a time; run folders under {work}", flush=True)

    rows = earlier_rows(args.out / "results.csv", {(d, r) for d, r, _ in jobs})
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, *job, work, args.timeout) for job in jobs]
        for i, future in enumerate(futures, 1):
            row = future.result()
            rows.append(row)
            print(
                f"[{i}/{len(jobs)}] {row['data']} {row['remedy']} seed {row['seed']}: "
                f"{row['status']} modes={row['modes']} hq={row['high_quality']} "
                f"rkl={row['reverse_kl']} wall={row['wall_s']}s {row['error']}",
                flush=True,
            )
            write_results(rows, args.out / "results.csv")  # after every run: nothing is lost
    total = time.perf_counter() - start

    first_seed = 0
    for data in args.data:
        for remedy in args.remedies:
            run_dir = work / f"{data}_{remedy}_seed{first_seed}"
            plots = list((run_dir / "samples").glob("epoch_*.png"))
            if plots:
                last = max(plots, key=grid_epoch)
                shutil.copyfile(last, args.out / f"{data}_{remedy}.png")

    table = make_table(rows)
    failed = sum(r["status"] != "ok" for r in rows)
    footer = (
        f"The last call of run_lab.py ran {len(jobs)} runs in {total / 60:.1f} min, "
        f"{args.jobs} at a time; {failed} of the {len(rows)} runs above failed.\n"
    )
    (args.out / "table.md").write_text(table + "\n" + footer)
    print()
    print(table)
    print(footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
