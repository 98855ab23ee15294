"""End-to-end: ``python -m gan_lightning`` as a subprocess, the way users run it."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import TINY_PIX2PIX, run_cli

FAST = ("debug=fast_dev_run",)


def status_of(run_dir):
    return json.loads((run_dir / "status.json").read_text())


def test_help_lists_groups_and_options(tmp_path):
    result = run_cli("--help", run_dir=tmp_path / "run")
    assert result.returncode == 0
    for group in ("model:", "model/nets:", "data:", "trainer:", "logger:", "experiment:"):
        assert f"\n{group} " in result.stdout
    assert "logger: csv, many, tensorboard, wandb" in result.stdout
    assert "hparams_search: optuna" in result.stdout


SMALL = ("data.loader.batch_size=16",)
CYCLEGAN_SMALL = (
    "data.image_size=32",
    "data.loader.num_workers=0",
    "model.generator_ab.base_width=8",
    "model.generator_ab.num_blocks=1",
    "model.discriminator_a.base_width=8",
)
MATRIX = [
    ("model=gan", "data=digits"),
    ("model=gan", "data=mnist"),
    ("model=gan", "data=svhn"),
    ("model=gan", "data=celeba", "data.image_size=32", "data.loader.num_workers=0"),
    ("model=dcgan", "data=mnist", "data.image_size=32"),
    ("model=dcgan", "data=svhn"),
    ("model=dcgan", "data=celeba", "data.loader.num_workers=0"),
    ("model=dcgan", "data=digits", "data.image_size=32", "model.generator.design=course"),
    ("model=cgan", "data=digits"),
    ("model=cgan", "data=mnist"),
    ("model=cgan", "data=svhn"),
    ("model=cgan", "model/nets=dcgan", "data=mnist", "data.image_size=32"),
    ("model=gan2d", "data=ring"),
    ("model=gan2d", "data=grid", "model.pack=4", "model.discriminator.minibatch_std=true"),
    ("model=dcgan", "data=svhn", "model.pack=2", "model.discriminator.minibatch_std=true"),
    ("model=cgan", "data=digits", "model.pack=2"),
    ("experiment=mnist_gan",),
    ("experiment=mode_collapse_ring", "model.pack=4"),
    ("experiment=mode_collapse_grid", "model.discriminator.minibatch_std=true"),
    ("experiment=mnist_cgan",),
    ("experiment=limited_mnist_dcgan_toolkit",),  # and its bases, limited_mnist_dcgan(_diffaugment)
    ("experiment=mnist_cgan_toolkit",),
    ("experiment=mnist_mlp_cgan_toolkit",),
    ("experiment=svhn_dcgan",),
    ("experiment=celeba_dcgan", "data.loader.num_workers=0"),
    ("model=cyclegan", "data=summer2winter", *CYCLEGAN_SMALL),
    (
        "model=cyclegan",
        "data=unpaired",
        "data.root=${paths.data_dir}/summer2winter_yosemite",
        *CYCLEGAN_SMALL,
        "data.channels=1",
        "model.lambda_identity=0.5",
    ),
    ("experiment=summer2winter_cyclegan", *CYCLEGAN_SMALL),
    ("experiment=summer2winter_cyclegan_paper", *CYCLEGAN_SMALL),
    (
        *TINY_PIX2PIX[:1],
        "data=facades",
        *TINY_PIX2PIX[1:],
        "data.load_size=36",
        "data.loader.num_workers=0",
    ),
    (
        *TINY_PIX2PIX[:1],
        "data=paired",
        "data.root=${paths.data_dir}/facades",
        *TINY_PIX2PIX[1:],
        "data.loader.num_workers=0",
        "data.out_channels=1",
        "model.loss._target_=gan_lightning.losses.LeastSquaresLoss",
    ),
    (*TINY_PIX2PIX[:1], "data=colorize", *TINY_PIX2PIX[1:], "data.loader.num_workers=0"),
    (*TINY_PIX2PIX[:1], "data=edges2digits", *TINY_PIX2PIX[1:]),
    (
        "experiment=facades_pix2pix",
        *TINY_PIX2PIX[1:],
        "data.load_size=36",
        "data.loader.num_workers=0",
        "model.generator.num_downs=5",
    ),
    ("experiment=edges2digits_pix2pix",),
    ("experiment=celeba_colorize_pix2pix", "data.image_size=32", "data.loader.num_workers=0"),
]


@pytest.mark.parametrize("pair", MATRIX, ids=lambda p: "-".join(x.split("=")[1] for x in p[:2]))
def test_fast_dev_run_every_model_and_data(pair, tmp_path, data_root):
    run_dir = tmp_path / "run"
    result = run_cli(*pair, *FAST, *SMALL, f"paths.data_dir={data_root}", run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert status_of(run_dir)["status"] == "completed"
    grids = [p.name for p in (run_dir / "samples").iterdir()]
    assert grids and all(name.endswith("epoch_000.png") for name in grids)
    assert (run_dir / ".hydra" / "config.yaml").exists()


def test_conditional_grid_has_one_row_per_class(tmp_path):
    from PIL import Image

    run_dir = tmp_path / "run"
    result = run_cli("model=cgan", *FAST, "callbacks.sample_grid.min_image_size=8", run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    with Image.open(run_dir / "samples" / "epoch_000.png") as grid:
        # make_grid: 2 px padding around 8x8 digits, 8 per row, 10 rows
        assert grid.size == (2 + 8 * 10, 2 + 10 * 10)


def test_grid_names_sort_in_epoch_order_and_are_read_back_by_epoch():
    from pathlib import Path
    from types import SimpleNamespace

    from gan_lightning.callbacks.sample_grid import grid_epoch, grid_stem, last_epoch_of

    last = last_epoch_of(SimpleNamespace(max_epochs=3000))
    names = [f"{grid_stem(n, e, last)}.png" for n in ("samples", "A_to_B") for e in (999, 1000)]
    assert names[:2] == ["epoch_0999.png", "epoch_1000.png"] == sorted(names[:2])
    assert names[2:] == ["A_to_B_epoch_0999.png", "A_to_B_epoch_1000.png"]
    assert [grid_epoch(Path(n)) for n in names] == [999, 1000, 999, 1000]
    assert grid_stem("samples", 7, last_epoch_of(SimpleNamespace(max_epochs=20))) == "epoch_007"
    # a run bounded by steps alone does not know its last epoch: the widest pad
    assert grid_stem("samples", 7, last_epoch_of(SimpleNamespace(max_epochs=-1))) == "epoch_000007"
    # across runs of different lengths the widths differ: order by the number
    mixed = [Path("epoch_999.png"), Path("epoch_0998.png")]
    assert max(mixed, key=grid_epoch).name == "epoch_999.png"


def test_default_job_writes_grids_checkpoint_and_metrics(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("trainer.max_epochs=2", "trainer.limit_train_batches=3", run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        "epoch_000.png",
        "epoch_001.png",
    ]
    last = run_dir / "checkpoints" / "last.ckpt"
    assert f"checkpoints: {last}" in result.stdout
    assert f"samples:     {run_dir / 'samples'}" in result.stdout
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["gan_lightning"]["config"]["model"]["latent_dim"] == 64
    assert checkpoint["global_step"] == 2 * 3 * 2  # a D and a G step per batch
    metrics = (run_dir / "csv" / "metrics.csv").read_text().splitlines()
    assert "train/d_loss_epoch" in metrics[0] and "train/g_loss_epoch" in metrics[0]
    status = status_of(run_dir)
    assert status["status"] == "completed" and "train/g_loss_epoch" in status["metrics"]
    assert "config" in result.stdout and "model" in result.stdout  # the rich tree


def test_seed_makes_runs_repeatable(tmp_path):
    losses = []
    for name in ("a", "b"):
        run_dir = tmp_path / name
        result = run_cli("seed=7", "debug=smoke", "callbacks=none", run_dir=run_dir)
        assert result.returncode == 0, result.stderr[-3000:]
        losses.append(status_of(run_dir)["metrics"]["train/g_loss_epoch"])
    assert losses[0] == losses[1]


def test_tensorboard_logger_gets_scalars_and_images(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    result = run_cli("logger=tensorboard", "debug=smoke", run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    events = EventAccumulator(str(run_dir / "tensorboard")).Reload()
    assert "samples/samples" in events.Tags()["images"]
    assert "train/d_loss_step" in events.Tags()["scalars"]


def test_resume_from_checkpoint_continues(tmp_path):
    first = tmp_path / "first"
    assert run_cli("debug=smoke", run_dir=first).returncode == 0
    second = tmp_path / "second"
    ckpt = first / "checkpoints" / "last.ckpt"
    result = run_cli("debug=smoke", "trainer.max_epochs=2", f"ckpt_path={ckpt}", run_dir=second)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in (second / "samples").iterdir()] == ["epoch_001.png"]
    # last.ckpt is written at the end of each epoch and stores that epoch's index
    assert torch.load(ckpt, weights_only=True)["epoch"] == 0
    assert torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1


BAD_OVERRIDES = [
    (("model=foo",), "Could not find 'model/foo'"),
    (("model.lrr=1",), "Could not override 'model.lrr'"),
    (("+model.lrr=1",), "model.lrr: gan_lightning.models.gan.GAN takes no argument 'lrr'"),
    (("trainer.max_epochs=abc",), "trainer.max_epochs: expected int or null, got 'abc'"),
    (
        ("model=gan2d", "data=ring", "model.training.d_steps=abc"),
        "model.training.d_steps: expected int, got 'abc'",
    ),
    (
        ("model.training.optimizer.lr=fast",),
        "model.training.optimizer.lr: expected float or Tensor, got 'fast'",
    ),
    (("data.loader.batch_size=-1",), "data.loader.batch_size: must be positive, got -1"),
    (("trainer.precision=bf17",), "trainer.precision: expected "),
    (("model.loss._target_=gan_lightning.losses.Nope",), "model.loss._target_: cannot import"),
    (
        ("data=mnist", "paths.data_dir=/nonexistent"),
        "MNIST files not found in /nonexistent/MNIST/raw",
    ),
    (("data=svhn", "paths.data_dir=/nonexistent"), "SVHN file train_32x32.mat not found"),
    (("data=celeba", "paths.data_dir=/nonexistent"), "/nonexistent/celeba/img_align_celeba"),
    (("model=cgan", "data=celeba"), "ConditionalGAN needs class labels, but CelebADataModule"),
    (("model=dcgan", "data=digits"), "image_size must be one of 32, 64, 128"),
    (("model.generator.out_shape=[3,8,8]",), "the generator makes images of shape (3, 8, 8)"),
    (("model=cyclegan",), "CycleGAN trains on unpaired, but DigitsDataModule yields images"),
    (("data=unpaired", "data.root=x"), "GAN trains on images, but UnpairedDataModule yields"),
    (("model=cyclegan", "data=unpaired"), "data.root: a value is required"),
    (
        ("model=cyclegan", "data=summer2winter", "paths.data_dir=/nonexistent"),
        "folder /nonexistent/summer2winter_yosemite/trainA/ not found",
    ),
]


@pytest.mark.parametrize("overrides, first_line", BAD_OVERRIDES, ids=lambda x: str(x)[:40])
def test_bad_input_fails_with_one_clear_line(overrides, first_line, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(*overrides, run_dir=run_dir)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    # Hydra's messages are the first line of stderr; ours start with "error: " (Lightning's
    # banner may come before an error found once training has started)
    message = next((line for line in lines if line.startswith("error: ")), lines[0])
    assert first_line in message, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    if run_dir.exists():  # composition errors stop before the run dir is made
        assert status_of(run_dir)["status"] == "failed"
        assert not (run_dir / "checkpoints").exists()
