"""Every bad input of the training command: the exact exit status and the first message line.

Exit statuses: 1 for Hydra's own composition errors (unknown option or key), 2 for errors the
project reports (``error: ...``), 3 for a diverged run, 0 where a bad file is skipped.
No case may print a traceback, and no case may leave a checkpoint or a "completed" status.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import (
    TINY_CYCLEGAN,
    TINY_PIX2PIX,
    run_cli,
    write_facades,
    write_faces,
    write_mnist,
    write_unpaired,
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Data folders with one thing wrong each, and checkpoints to misuse."""
    root = tmp_path_factory.mktemp("inputs")
    empty = root / "empty_celeba"
    (empty / "celeba" / "img_align_celeba").mkdir(parents=True)
    corrupt = root / "corrupt_celeba"
    write_faces(corrupt / "celeba" / "img_align_celeba", 40)
    (corrupt / "celeba" / "img_align_celeba" / "000041.jpg").write_bytes(b"\xff\xd8\xff broken")
    broken = root / "broken_celeba"
    (broken / "celeba" / "img_align_celeba").mkdir(parents=True)
    for i in range(3):
        (broken / "celeba" / "img_align_celeba" / f"00000{i}.jpg").write_bytes(b"not a jpeg")
    truncated = write_mnist(root / "truncated_mnist", train=64, test=16)
    images = truncated / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])
    junk = root / "junk.ckpt"
    junk.write_bytes(b"this is not a checkpoint")
    cyclegan = root / "cyclegan_run"
    unpaired = write_unpaired(root / "unpaired")
    result = run_cli(*TINY_CYCLEGAN, f"data.root={unpaired}", "debug=smoke", run_dir=cyclegan)
    assert result.returncode == 0, result.stderr[-2000:]
    gan = root / "gan_run"
    result = run_cli("debug=smoke", "callbacks.evaluation=null", run_dir=gan)
    assert result.returncode == 0, result.stderr[-2000:]
    odd_pairs = write_facades(root / "odd_pairs", train=4)
    Image.new("RGB", (50, 32)).save(odd_pairs / "train" / "odd.jpg")
    not_a_folder = root / "a_file"
    not_a_folder.write_text("x")
    return {
        "EMPTY": empty,
        "CORRUPT": corrupt,
        "BROKEN": broken,
        "TRUNCATED": truncated,
        "JUNK": junk,
        "CYCLEGAN_CKPT": cyclegan / "checkpoints" / "last.ckpt",
        "FILE": not_a_folder,
        "UNPAIRED": unpaired,
        "GAN_CKPT": gan / "checkpoints" / "last.ckpt",
        "ODD_PAIRS": odd_pairs,
    }


CASES = [
    # (case, overrides, exit status, first line of the message: start of it)
    ("unknown group option", ("model=foo",), 1, "In 'train': Could not find 'model/foo'"),
    ("misspelled key", ("model.lrr=1",), 1, "Could not override 'model.lrr'."),
    (
        "key the constructor lacks",
        ("+model.lrr=1",),
        2,
        "error: model.lrr: gan_lightning.models.gan.GAN takes no argument 'lrr'; allowed: ",
    ),
    ("wrong type", ("trainer.max_epochs=abc",), 2, "error: trainer.max_epochs: expected int"),
    (
        "wrong type, float",
        ("model.training.optimizer.lr=fast",),
        2,
        "error: model.training.optimizer.lr: expected",
    ),
    (
        "negative batch size",
        ("data.loader.batch_size=-1",),
        2,
        "error: data.loader.batch_size: must be positive, got -1",
    ),
    ("latent size zero", ("model.latent_dim=0",), 2, "error: model.latent_dim: must be positive"),
    (
        "negative learning rate",  # torch's check, made before training starts
        ("model.training.optimizer.lr=-0.001",),
        2,
        "error: model.training.optimizer: Invalid learning rate: -0.001",
    ),
    (
        "bad choice",
        ("model.training.on_nonfinite=maybe",),
        2,
        "error: model.training: on_nonfinite must be one of stop, skip, got 'maybe'",
    ),
    (
        "missing data dir",
        ("data=mnist", "paths.data_dir=/nonexistent"),
        2,
        "error: MNIST files not found in /nonexistent/MNIST/raw",
    ),
    (
        "empty data dir",
        ("data=celeba", "paths.data_dir=EMPTY"),
        2,
        "error: no images in EMPTY/celeba/img_align_celeba/",
    ),
    (
        "every image corrupt",
        ("data=celeba", "paths.data_dir=BROKEN", "data.loader.batch_size=2"),
        2,
        "error: BROKEN/celeba/img_align_celeba has 0 readable images",
    ),
    (
        "truncated IDX file",
        ("data=mnist", "paths.data_dir=TRUNCATED"),
        2,
        "error: TRUNCATED/MNIST/raw/train-images-idx3-ubyte is truncated",
    ),
    (
        "model and data that do not fit",
        ("model=cyclegan",),
        2,
        "error: CycleGAN trains on unpaired, but DigitsDataModule yields images",
    ),
    (
        "pix2pix on unpaired images",
        ("model=pix2pix",),
        2,
        "error: Pix2Pix trains on paired, but DigitsDataModule yields images",
    ),
    (
        "paired set missing",
        ("model=pix2pix", "data=facades", "paths.data_dir=/nonexistent"),
        2,
        "error: folder /nonexistent/facades/train/ not found; the set needs a folder train/ of "
        "side-by-side A|B images (val/, test/ optional) in /nonexistent/facades/: unpack "
        "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz there",
    ),
    (
        "paired image that is not two halves",
        (*TINY_PIX2PIX, "data=paired", "data.root=ODD_PAIRS", "data.loader.num_workers=0"),
        2,
        "error: ODD_PAIRS/train/odd.jpg is 50x32, but a paired image holds A and B side by side",
    ),
    (
        "image too small for the network",
        ("model=cyclegan", "data=unpaired", "data.root=UNPAIRED", "data.image_size=16"),
        2,
        "error: model.discriminator_a: image_size=16 is too small for a 3-layer course PatchGAN "
        "(it needs >= 32)",
    ),
    (
        "labels missing",
        ("model=cgan", "data=celeba"),
        2,
        "error: ConditionalGAN needs class labels, but CelebADataModule has none",
    ),
    (
        "checkpoint of another variant",
        ("ckpt_path=CYCLEGAN_CKPT",),
        2,
        "error: ckpt_path=CYCLEGAN_CKPT is a CycleGAN checkpoint but this run builds a GAN",
    ),
    (
        "checkpoint of another architecture",
        ("ckpt_path=GAN_CKPT", "model.generator.hidden_dims=[64,64]"),
        2,
        "error: ckpt_path=GAN_CKPT holds other networks than this run builds (generator.body",
    ),
    (
        "checkpoint file that is not a checkpoint",
        ("ckpt_path=JUNK",),
        2,
        "error: JUNK is not a loadable checkpoint",
    ),
    (
        "checkpoint that does not exist",
        ("ckpt_path=/nonexistent/last.ckpt",),
        2,
        "error: ckpt_path=/nonexistent/last.ckpt: no such file",
    ),
    (
        "unknown metric name for the evaluation callback",
        ("callbacks.evaluation.metrics=[fcd,nope]", "trainer.max_epochs=1"),
        2,
        "error: metric='nope' is unknown; use all, modes, fcd, class_coverage, fid",
    ),
    (
        "output dir not writable",
        ("hydra.run.dir=FILE/run",),
        2,
        "error: cannot create the run folder FILE/run",
    ),
]


def _fill(text: str, inputs: dict[str, Path]) -> str:
    for name, path in inputs.items():
        text = text.replace(name, str(path))
    return text


@pytest.mark.parametrize(
    ("case", "overrides", "status", "first_line"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input(case, overrides, status, first_line, inputs, tmp_path):
    run_dir = tmp_path / "run"
    overrides = [_fill(o, inputs) for o in overrides]
    if not any(o.startswith("hydra.run.dir=") for o in overrides):
        overrides.append(f"hydra.run.dir={run_dir}")
    result = run_cli(*overrides, run_dir=run_dir)
    assert result.returncode == status, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    message = next((line for line in lines if line.startswith("error: ")), lines[0])
    assert message.startswith(_fill(first_line, inputs)), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    if run_dir.exists():
        assert json.loads((run_dir / "status.json").read_text())["status"] == "failed"
        assert not (run_dir / "checkpoints").exists()


def test_a_corrupt_image_is_skipped_with_a_count(inputs, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "model=dcgan", "data=celeba", f"paths.data_dir={inputs['CORRUPT']}",
        "data.loader.num_workers=0", "data.loader.batch_size=8", "debug=fast_dev_run",
        run_dir=run_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped 1 unreadable image(s)" in (run_dir / "train.log").read_text()
