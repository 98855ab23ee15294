"""CycleGAN end to end through the command lines: train, translate, evaluate, refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from gan_lightning import translate
from gan_lightning.errors import UserError
from gan_lightning.metrics.translation import (
    CycleReconstruction,
    TranslationDistance,
    TranslationInputs,
)
from tests.conftest import TINY_CYCLEGAN, run_cli, write_domain, write_unpaired

TINY = (
    *TINY_CYCLEGAN,
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "callbacks.evaluation.batch_size=2",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint, data root) of a 3-batch CycleGAN run on a tiny folder pair."""
    root = write_unpaired(tmp_path_factory.mktemp("data") / "set")
    run_dir = tmp_path_factory.mktemp("runs") / "run"
    result = run_cli(*TINY, f"data.root={root}", run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir / "checkpoints" / "last.ckpt", root


def test_run_logs_cycle_reconstruction_and_writes_both_grids(trained):
    ckpt, _ = trained
    run_dir = ckpt.parents[1]
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"eval/cycle_l1_A", "eval/cycle_l1_B", "train/cycle_loss_epoch"} <= set(header)
    names = sorted(p.name for p in (run_dir / "samples").iterdir())
    assert names == ["A_to_B_epoch_000.png", "B_to_A_epoch_000.png"]
    # rows of x | G(x) | F(G(x)) for the 2 testA images, each upscaled to 32 px, 2 px padding
    with Image.open(run_dir / "samples" / names[0]) as grid:
        assert grid.size == (3 * 34 + 2, 2 * 34 + 2)


def test_translate_keeps_names_sizes_and_formats(trained, tmp_path):
    ckpt, _ = trained
    source = tmp_path / "in"
    write_domain(source, 2, size=(40, 30), seed=7)
    write_domain(source, 1, size=(23, 17), mode="L", suffix=".png", seed=8, prefix="grey")
    (source / "notes.txt").write_text("skip me")
    out = tmp_path / "out"
    result = run_cli(
        f"ckpt={ckpt}",
        f"input={source}",
        f"output={out}",
        run_dir=tmp_path / "x",
        module="gan_lightning.translate",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "translated 3 image(s) AtoB" in result.stdout and "skipped 1 non-image" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["0000.jpg", "0001.jpg", "grey0000.png"]
    for name in ("0000.jpg", "grey0000.png"):
        with Image.open(source / name) as original, Image.open(out / name) as translated:
            assert translated.size == original.size
            assert translated.format == original.format
            assert translated.mode == "RGB"  # the model's channels


def test_translate_reads_its_checkpoint_once(trained, tmp_path, checkpoint_reads):
    ckpt, _ = trained
    write_domain(tmp_path / "in", 1, seed=3)
    translate.main([f"ckpt={ckpt}", f"input={tmp_path / 'in'}", f"output={tmp_path / 'out'}"])
    assert checkpoint_reads == [str(ckpt)]
    assert len(list((tmp_path / "out").iterdir())) == 1


@pytest.mark.parametrize("extra", [("direction=BtoA",), ("size=native",), ("batch_size=1",)])
def test_translate_options(trained, tmp_path, extra):
    ckpt, root = trained
    out = tmp_path / "out"
    translate.main([f"ckpt={ckpt}", f"input={root / 'testB'}", f"output={out}", *extra])
    assert len(list(out.iterdir())) == 3


@pytest.mark.parametrize(("direction", "half"), [("AtoB", 0), ("BtoA", 1)])
def test_side_by_side_input_uses_the_source_half_of_the_direction(
    trained, tmp_path, direction, half
):
    ckpt, _ = trained
    rng = torch.Generator().manual_seed(0)
    pair = (torch.rand(3, 16, 32, generator=rng) * 255).to(torch.uint8)
    (tmp_path / "pairs").mkdir()
    (tmp_path / "half").mkdir()
    Image.fromarray(pair.permute(1, 2, 0).numpy()).save(tmp_path / "pairs" / "p.png")
    source = pair[:, :, 16 * half : 16 * (half + 1)].permute(1, 2, 0).contiguous().numpy()
    Image.fromarray(source).save(tmp_path / "half" / "p.png")
    common = [f"ckpt={ckpt}", f"direction={direction}"]
    translate.main(
        [*common, f"input={tmp_path / 'pairs'}", f"output={tmp_path / 'o1'}", "paired=true"]
    )
    translate.main([*common, f"input={tmp_path / 'half'}", f"output={tmp_path / 'o2'}"])
    with Image.open(tmp_path / "o1" / "p.png") as a, Image.open(tmp_path / "o2" / "p.png") as b:
        assert a.size == (16, 16) and list(a.getdata()) == list(b.getdata())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("direction=AtoC",), "direction='AtoC': use AtoB or BtoA"),
        (("size=huge",), "size='huge': use train or native"),
        (("output=EXISTING",), "already exists and is not empty"),
        (("input=MISSING",), "is not a folder of images"),
        (("input=EMPTY",), "no images (jpg, png, bmp, webp)"),
        (("ckpt=JUNK",), "is not a loadable checkpoint"),
        (("colour=red",), "bad argument 'colour=red'"),
    ],
)
def test_translate_refuses_bad_input(trained, tmp_path, arguments, message):
    ckpt, root = trained
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "keep.png").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    values = {"ckpt": str(ckpt), "input": str(root / "testA"), "output": str(tmp_path / "out")}
    names = {"EXISTING": "existing", "MISSING": "missing", "EMPTY": "empty", "JUNK": "junk.ckpt"}
    for argument in arguments:
        key, _, value = argument.partition("=")
        values[key] = str(tmp_path / names[value]) if value in names else value
    with pytest.raises(UserError) as error:
        translate.main([f"{k}={v}" for k, v in values.items()])
    assert message in str(error.value)
    assert not (tmp_path / "out").exists() and (tmp_path / "existing" / "keep.png").exists()


def test_translate_error_is_one_line_and_exit_status_2(trained, tmp_path):
    """Pointing output at the input folder is refused, and the inputs stay untouched."""
    ckpt, root = trained
    before = sorted((root / "testA").iterdir())
    args = (f"ckpt={ckpt}", f"input={root / 'testA'}", f"output={root / 'testA'}")
    result = run_cli(*args, run_dir=tmp_path / "x", module="gan_lightning.translate")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: output=")
    assert "already exists and is not empty" in lines[0]
    assert sorted((root / "testA").iterdir()) == before


def test_translate_needs_an_image_to_image_checkpoint(tmp_path):
    run_dir = tmp_path / "gan"
    assert run_cli("debug=smoke", "callbacks.evaluation=null", run_dir=run_dir).returncode == 0
    result = run_cli(
        f"ckpt={run_dir / 'checkpoints' / 'last.ckpt'}",
        f"input={tmp_path}",
        "output=o",
        run_dir=tmp_path / "x",
        module="gan_lightning.translate",
    )
    assert result.returncode == 2 and "is not an image-to-image model" in result.stderr


def test_sample_on_a_cyclegan_checkpoint_points_to_translate(trained, tmp_path):
    ckpt, _ = trained
    result = run_cli(f"ckpt={ckpt}", run_dir=tmp_path / "x", module="gan_lightning.sample")
    assert result.returncode == 2 and "use python -m gan_lightning.translate" in result.stderr


def test_evaluate_scores_cycle_reconstruction_of_the_test_images(trained, tmp_path):
    ckpt, root = trained
    out = tmp_path / "scores.json"
    result = run_cli(
        f"ckpt={ckpt}",
        f"out={out}",
        "batch_size=2",
        run_dir=tmp_path / "x",
        module="gan_lightning.evaluate",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(out.read_text())
    assert set(scores["metrics"]) == {"cycle_l1_A", "cycle_l1_B"}
    assert 0 < scores["metrics"]["cycle_l1_A"] < 2
    assert any("inception_weights" in line for line in scores["skipped"])
    missing = run_cli(
        f"ckpt={ckpt}",
        "metric=fid",
        f"out={tmp_path / 'fid.json'}",
        run_dir=tmp_path / "x",
        module="gan_lightning.evaluate",
    )
    assert missing.returncode == 2 and "Inception weights" in missing.stderr


class _Identity(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # gives the translator a device

    def forward(self, x):
        return x


def _inputs(tmp_path, same: bool):
    from gan_lightning.data.unpaired import UnpairedDataModule

    root = write_unpaired(tmp_path / "set")
    if same:  # testB = copies of testA: identity translation is then perfect
        for path in (root / "testB").iterdir():
            path.unlink()
        for path in (root / "testA").iterdir():
            (root / "testB" / path.name).write_bytes(path.read_bytes())
    else:  # testB much darker than testA
        for path in (root / "testB").iterdir():
            Image.new("RGB", (30, 30), (5, 5, 5)).save(path)
    datamodule = UnpairedDataModule(str(root), image_size=16, loader={"num_workers": 0})
    datamodule.setup("fit")
    translators = {"AtoB": _Identity(), "BtoA": _Identity()}
    return TranslationInputs(translators, datamodule, batch_size=2)


def test_cycle_reconstruction_of_identity_translators_is_zero(tmp_path):
    scores = CycleReconstruction().compute(_inputs(tmp_path, same=False))
    assert scores == {"cycle_l1_A": 0.0, "cycle_l1_B": 0.0}


@pytest.mark.parametrize("same", [True, False])
def test_translation_distance_compares_translations_with_the_other_domain(tmp_path, same):
    """The Inception network is replaced by pixel statistics: the plumbing is what is tested."""
    metric = TranslationDistance(weights="unused", kid_subset_size=1000)
    metric.distance.load = lambda inputs: None
    metric.distance.features = lambda images: {
        "features": torch.stack([images.mean((1, 2, 3)), images.std((1, 2, 3))], 1).double()
    }
    inputs = _inputs(tmp_path, same)
    metric.check(inputs)
    scores = metric.compute(inputs)
    assert set(scores) == {
        f"{kind}_{d}" for kind in ("fid", "kid", "kid") for d in ("AtoB", "BtoA")
    } | {"kid_AtoB_std", "kid_BtoA_std"}
    assert inputs.kid_subset_size == 2  # capped at the smaller test set
    if same:
        assert abs(scores["fid_AtoB"]) < 1e-6
    else:
        assert scores["fid_AtoB"] > 1e-3
