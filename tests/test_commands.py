"""``sample`` and ``evaluate`` on checkpoints of short real runs, as subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gan_lightning import __version__
from gan_lightning.checkpoints import CHECKPOINT_KEY
from gan_lightning.inference import VARIANTS
from tests.conftest import run_cli


def command(module: str, *args: str, cwd: Path):
    return run_cli(*args, run_dir=cwd / "unused", module=f"gan_lightning.{module}")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A conditional digits GAN and a 2-D ring GAN, a few steps each."""
    root = tmp_path_factory.mktemp("ckpts")
    runs = {
        "cgan": ("model=cgan", "data=digits", "trainer.max_steps=4"),
        "ring": ("model=gan2d", "data=ring", "data.num_samples=1000", "trainer.max_steps=4"),
    }
    paths = {}
    for name, overrides in runs.items():
        result = run_cli(*overrides, run_dir=root / name)
        assert result.returncode == 0, result.stderr[-3000:]
        paths[name] = root / name / "checkpoints" / "last.ckpt"
    return paths


def test_sample_writes_pngs_and_a_grid_and_never_overwrites(checkpoints, tmp_path):
    out = tmp_path / "samples"
    args = (f"ckpt={checkpoints['cgan']}", "n=20", "labels=3,7", f"out={out}")
    result = command("sample", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(out.glob("sample_*.png"))) == 20 and (out / "grid.png").exists()
    again = command("sample", *args, cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"error: {out} already exists and is not empty; choose another out="
    ]


def test_sample_interpolates_between_two_seeds(checkpoints, tmp_path):
    out = tmp_path / "lerp"
    args = (f"ckpt={checkpoints['cgan']}", "interpolate=6", "seeds=1,2", "labels=5", f"out={out}")
    result = command("sample", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(out.glob("sample_*.png"))) == 6


def test_sample_of_points_writes_csv_and_scatter(checkpoints, tmp_path):
    out = tmp_path / "points"
    result = command("sample", f"ckpt={checkpoints['ring']}", "n=100", f"out={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len((out / "points.csv").read_text().splitlines()) == 101
    assert (out / "scatter.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("labels=12",), "labels: labels must be in 0..9"),
        (("n=zero",), "n='zero': expected int"),
        (("colour=red",), "bad argument 'colour=red'"),
    ],
)
def test_sample_bad_input_is_one_line(checkpoints, tmp_path, args, message):
    result = command("sample", f"ckpt={checkpoints['cgan']}", *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_sample_reads_its_checkpoint_once(checkpoints, tmp_path, checkpoint_reads):
    from gan_lightning import sample

    sample.main([f"ckpt={checkpoints['cgan']}", "n=4", f"out={tmp_path / 'once'}"])
    assert checkpoint_reads == [str(checkpoints["cgan"])]
    assert len(list((tmp_path / "once").glob("sample_*.png"))) == 4


def test_labels_for_an_unconditional_generator_are_refused(checkpoints, tmp_path):
    result = command("sample", f"ckpt={checkpoints['ring']}", "labels=1", cwd=tmp_path)
    assert result.returncode == 2 and "unconditional" in result.stderr


def test_train_features_then_evaluate_writes_json(checkpoints, tmp_path):
    features = tmp_path / "features"
    trained = command(
        "evaluate",
        "train_features",
        "data=digits",
        "epochs=2",
        f"metrics.feature_dir={features}",
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (features / "digits_8px_1ch.pt").exists()
    out = tmp_path / "eval.json"
    result = command(
        "evaluate",
        f"ckpt={checkpoints['cgan']}",
        "n=1000",
        f"out={out}",
        f"metrics.feature_dir={features}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    for key in ("fcd", "kcd", "classes_covered", "kl_to_uniform", "label_accuracy"):
        assert key in report["metrics"]
    assert any("inception_weights" in line for line in report["skipped"])


def test_evaluate_points_reports_mode_metrics(checkpoints, tmp_path):
    out = tmp_path / "ring.json"
    result = command(
        "evaluate", f"ckpt={checkpoints['ring']}", "n=2500", f"out={out}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(json.loads(out.read_text())["metrics"]) == {"modes", "high_quality", "reverse_kl"}


class TrackedCheckpoint(dict):
    """A checkpoint dict a weak reference can watch."""


def test_evaluate_frees_the_checkpoint_before_it_scores(checkpoints, tmp_path, monkeypatch):
    import weakref

    from gan_lightning import evaluate, inference
    from gan_lightning.metrics.modes import ModeCoverage

    read: list[weakref.ref] = []
    load = inference.load_checkpoint

    def tracked_load(path):
        checkpoint = TrackedCheckpoint(load(path))
        read.append(weakref.ref(checkpoint))
        return checkpoint

    alive_while_scoring: list[bool] = []
    compute = ModeCoverage.compute

    def watched_compute(self, inputs):
        alive_while_scoring.append(read[0]() is not None)
        return compute(self, inputs)

    monkeypatch.setattr(inference, "load_checkpoint", tracked_load)
    monkeypatch.setattr(ModeCoverage, "compute", watched_compute)
    out = tmp_path / "ring.json"
    evaluate.main([f"ckpt={checkpoints['ring']}", "n=500", f"out={out}"])
    assert alive_while_scoring == [False] and out.exists()


@pytest.mark.parametrize(
    ("which", "args", "message"),
    [
        ("ring", ("metric=fid",), "compares images; GaussianMixtureDataModule holds points"),
        ("ring", ("metric=class_coverage",), "needs a labelled digit set"),
        ("cgan", ("metric=fid",), "download https://github.com/toshas/torch-fidelity"),
        (
            "cgan",
            ("metric=fid", "metrics.inception_weights=/nowhere.pth"),
            "no file at /nowhere.pth",
        ),
        ("cgan", ("metric=modes",), "mode coverage needs a 2-D mixture"),
        ("cgan", ("metric=fcd", "n=10", "metrics.classifier=x.pt"), "needs at least 1000 samples"),
        ("cgan", ("metric=bleu",), "metric='bleu' is unknown"),
    ],
)
def test_evaluate_bad_input_is_one_line(checkpoints, tmp_path, which, args, message):
    out = tmp_path / "never.json"
    result = command("evaluate", f"ckpt={checkpoints[which]}", f"out={out}", *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not out.exists()


def test_evaluate_without_checkpoint_or_with_a_bad_one(tmp_path):
    result = command("evaluate", "n=10", cwd=tmp_path)
    assert result.returncode == 2 and "ckpt=PATH" in result.stderr
    bogus = tmp_path / "bogus.ckpt"
    bogus.write_text("not a checkpoint")
    result = command("evaluate", f"ckpt={bogus}", cwd=tmp_path)
    assert result.returncode == 2 and "not a loadable checkpoint" in result.stderr
    # a variant neither in the package nor a subclass of one is refused, not scored as a GAN
    unknown = tmp_path / "wgan.ckpt"
    extras = {"version": __version__, "variant": "WGAN", "variant_bases": ["AdversarialModule"]}
    torch.save({"state_dict": {}, CHECKPOINT_KEY: {**extras, "config": {"model": {}}}}, unknown)
    result = command("evaluate", f"ckpt={unknown}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {unknown} is a WGAN checkpoint; sample, translate and evaluate run "
        + ", ".join(VARIANTS)
        + " checkpoints and those of their subclasses"
    ]
