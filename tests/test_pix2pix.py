"""Pix2Pix: the U-Net, the module's two losses and which nets each step moves, and the
inference commands (translate, evaluate) on a checkpoint of a short CLI run."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.losses import NonSaturatingLoss
from gan_lightning.models.pix2pix import Pix2Pix
from gan_lightning.nets.patchgan import PatchDiscriminator
from gan_lightning.nets.unet import UnetGenerator
from gan_lightning.training.options import TrainingOptions
from tests.conftest import (
    TINY_PIX2PIX,
    StepRecorder,
    quiet_trainer,
    run_cli,
    write_mnist,
    write_side_by_side,
)
from tests.training_options import with_training

NETS = ("generator", "discriminator")


def tiny_nets(in_channels: int = 1, out_channels: int = 3) -> dict:
    return dict(
        generator=UnetGenerator(in_channels, out_channels, 16, 8),
        discriminator=PatchDiscriminator(in_channels + out_channels, 8, 1, "batch", "paper"),
    )


def make_pix2pix(**kwargs) -> Pix2Pix:
    torch.manual_seed(0)
    defaults = dict(
        **tiny_nets(),
        loss=NonSaturatingLoss(),
        optimizer=partial(torch.optim.Adam, lr=1e-3, betas=(0.5, 0.999)),
        num_grid_images=2,
    )
    defaults.update(kwargs)
    return Pix2Pix(**with_training(defaults))


def paired_loader(n_batches: int = 2, batch_size: int = 2) -> DataLoader:
    inputs = torch.rand(n_batches * batch_size, 1, 16, 16) * 2 - 1
    targets = torch.rand(n_batches * batch_size, 3, 16, 16) * 2 - 1
    return DataLoader(TensorDataset(inputs, targets), batch_size=batch_size)


# --- the U-Net ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "levels"), [(256, 8), (128, 7), (64, 6), (32, 5)])
def test_default_depth_reaches_a_one_pixel_bottleneck(size, levels):
    generator = UnetGenerator(3, 3, size, 4)
    assert generator.num_downs == levels and generator.stride_product == size
    x = torch.zeros(1, 3, size, size)
    bottleneck = x
    for down in generator.downs:
        bottleneck = down(bottleneck)
    assert bottleneck.shape[-2:] == (1, 1)
    y = generator(x)
    assert y.shape == x.shape and y.abs().max() <= 1


def test_paper_networks_match_the_reference_sizes():
    """54.414M and 2.769M parameters: what junyanz's pix2pix prints for unet_256 (BatchNorm)
    and the 70x70 PatchGAN on 6-channel pairs."""
    generator = UnetGenerator(3, 3, 256, 64, 8, "batch")
    discriminator = PatchDiscriminator(6, 64, 3, "batch", "paper")
    assert round(sum(p.numel() for p in generator.parameters()) / 1e6, 3) == 54.414
    assert round(sum(p.numel() for p in discriminator.parameters()) / 1e6, 3) == 2.769
    assert sum(isinstance(m, torch.nn.Dropout) for m in generator.modules()) == 3


def test_skip_connections_feed_each_decoder_level():
    generator = UnetGenerator(1, 3, 32, 8)
    widths = [8, 16, 32, 64, 64]
    for level, up in enumerate(generator.ups):
        expected = widths[level] if level == len(widths) - 1 else 2 * widths[level]
        assert up[1].in_channels == expected  # the level's encoder output is concatenated
    assert generator(torch.zeros(2, 1, 32, 32)).shape == (2, 3, 32, 32)


def test_dropout_is_the_noise_and_eval_mode_is_deterministic():
    torch.manual_seed(0)
    generator = UnetGenerator(1, 1, 16, 8)
    x = torch.rand(2, 1, 16, 16)
    assert not torch.equal(generator(x), generator(x))  # training mode: dropout draws
    generator.eval()
    assert torch.equal(generator(x), generator(x))


def test_fully_convolutional_at_multiples_of_the_stride_product():
    generator = UnetGenerator(3, 3, 32, 4).eval()
    assert generator(torch.zeros(1, 3, 64, 96)).shape == (1, 3, 64, 96)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(image_size=48), "not a power of two"),
        (dict(image_size=64, num_downs=7), "not a multiple of 2\\*\\*num_downs=128"),
        (dict(num_downs=1), "num_downs must be >= 2"),
        (dict(dropout=1.0), "dropout must be in"),
        (dict(norm="layer"), "norm must be one of"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UnetGenerator(**kwargs)


# --- the module --------------------------------------------------------------------------------
def test_discriminator_must_take_the_stacked_pair():
    nets = tiny_nets()
    nets["discriminator"] = PatchDiscriminator(3, 8, 1, "batch", "paper")
    with pytest.raises(ValueError, match="an \\(input, output\\) pair has 1 \\+ 3"):
        make_pix2pix(**nets)


class RecordingPix2Pix(StepRecorder, Pix2Pix):
    """Records which network moved during each D update and each G update."""

    recorded_nets = NETS


def test_each_step_moves_only_its_own_network():
    torch.manual_seed(0)
    model = RecordingPix2Pix(
        **tiny_nets(),
        loss=NonSaturatingLoss(),
        training=TrainingOptions(optimizer=partial(torch.optim.Adam, lr=1e-3)),
    )
    quiet_trainer(max_steps=4).fit(model, paired_loader())
    assert model.events == [("D", {"discriminator"}), ("G", {"generator"})] * 2
    assert model.leaks == []


def test_generator_loss_is_adversarial_plus_weighted_l1():
    model = make_pix2pix(lambda_l1=100.0).eval()  # eval: no dropout, repeatable passes
    inputs, targets = torch.rand(2, 1, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    loss, logs = model.generator_loss((inputs, targets))
    fakes = model.generator(inputs)
    assert torch.allclose(logs["l1"], (fakes - targets).abs().mean())
    logits = model.discriminator(torch.cat([inputs, fakes], 1))
    adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    assert torch.allclose(logs["g_adversarial"], adversarial, rtol=1e-5)
    assert torch.allclose(loss, adversarial + 100.0 * logs["l1"], rtol=1e-5)


def test_discriminator_judges_pairs_and_its_loss_is_halved():
    model = make_pix2pix().eval()
    inputs, targets = torch.rand(2, 1, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    loss, _ = model.discriminator_loss((inputs, targets))
    real = model.discriminator(torch.cat([inputs, targets], 1))
    fake = model.discriminator(torch.cat([inputs, model.generator(inputs)], 1))
    expected = 0.5 * (
        F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
        + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    )
    assert torch.allclose(loss, expected, rtol=1e-5)


def test_unpaired_batches_are_refused_in_one_line():
    model = make_pix2pix()
    with pytest.raises(Exception, match="use a paired data set"):
        model.discriminator_loss(torch.zeros(2, 1, 16, 16))


def test_grid_rows_are_input_output_target_in_colour():
    model = make_pix2pix(num_grid_images=2)
    quiet_trainer(max_steps=2).fit(model, paired_loader())
    images, per_row = model.grid_images()["samples"]
    assert per_row == 3 and images.shape == (6, 3, 16, 16)
    first_input = model.preview.first[0]
    assert torch.equal(images[0], first_input.expand(3, -1, -1))  # grey shown as RGB
    assert torch.equal(images[2], model.preview.second[0])


# --- the commands on a checkpoint ----------------------------------------------------------------
@pytest.fixture(scope="module")
def edges_run(tmp_path_factory):
    """A 3-batch edges2digits run through the CLI: its folder and checkpoint."""
    root = tmp_path_factory.mktemp("pix2pix")
    data_dir = write_mnist(root / "data", train=64, test=16)
    run_dir = root / "run"
    result = run_cli(
        *TINY_PIX2PIX[:1],
        "data=edges2digits",
        *TINY_PIX2PIX[1:],
        f"paths.data_dir={data_dir}",
        "data.loader.batch_size=8",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, run_dir / "checkpoints" / "last.ckpt", data_dir


def test_training_logs_the_held_out_l1_and_its_baseline(edges_run):
    run_dir, _, _ = edges_run
    metrics = json.loads((run_dir / "status.json").read_text())["metrics"]
    assert {"eval/l1", "eval/l1_input", "train/l1_epoch"} <= set(metrics)
    with Image.open(run_dir / "samples" / "epoch_000.png") as grid:
        assert grid.size[0] == 2 + 3 * (32 + 2)  # input | output | target per row


def test_evaluate_scores_the_held_out_pairs(edges_run, tmp_path):
    run_dir, ckpt, data_dir = edges_run
    out = tmp_path / "scores.json"
    result = run_cli(
        f"ckpt={ckpt}", f"out={out}", run_dir=tmp_path / "x", module="gan_lightning.evaluate"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(out.read_text())
    assert scores["num_samples"] == 16  # the test split
    assert set(scores["metrics"]) == {"l1", "l1_input"}
    assert "fid, kid: metrics.inception_weights is not set" in result.stdout


def test_evaluate_refuses_other_data_for_a_pix2pix_checkpoint(edges_run, tmp_path):
    _, ckpt, data_dir = edges_run
    result = run_cli(
        f"ckpt={ckpt}",
        "data=mnist",
        f"paths.data_dir={data_dir}",
        run_dir=tmp_path / "x",
        module="gan_lightning.evaluate",
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: a Pix2Pix checkpoint is scored on a paired data set, and only it"
    )


def test_translate_writes_one_image_per_input_at_its_size(edges_run, tmp_path):
    _, ckpt, _ = edges_run
    source = tmp_path / "in"
    source.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(source / "a.png")
    Image.fromarray(rng.integers(0, 255, (40, 24), dtype=np.uint8)).save(source / "b.png")
    out = tmp_path / "out"
    result = run_cli(
        f"ckpt={ckpt}", f"input={source}", f"output={out}", run_dir=tmp_path / "x",
        module="gan_lightning.translate",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "translated 2 image(s) input -> target" in result.stdout
    with Image.open(out / "b.png") as image:
        assert image.size == (24, 40)


def test_translate_takes_the_trained_half_of_side_by_side_files(edges_run, tmp_path):
    _, ckpt, _ = edges_run
    source = tmp_path / "pairs"
    write_side_by_side(source, 2, size=32, suffix=".png")
    out = tmp_path / "out"
    common = dict(run_dir=tmp_path / "x", module="gan_lightning.translate")
    result = run_cli(f"ckpt={ckpt}", f"input={source}", f"output={out}", "paired=true", **common)
    assert result.returncode == 0, result.stderr[-3000:]
    with Image.open(out / "1.png") as image:
        assert image.size == (32, 32)  # one half in, one translated half out

    refused = run_cli(
        f"ckpt={ckpt}", f"input={source}", f"output={tmp_path / 'o2'}", "direction=BtoA", **common
    )
    assert refused.returncode == 2 and "translates one way only" in refused.stderr
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(source / "square.png")
    odd = run_cli(
        f"ckpt={ckpt}", f"input={source}", f"output={tmp_path / 'o3'}", "paired=true", **common
    )
    assert odd.returncode == 2 and "square.png is 32x32, not two halves" in odd.stderr
    assert not (tmp_path / "o3").exists() and not (tmp_path / "o3.partial").exists()


@pytest.mark.slow
def test_edges2digits_learns_to_fill_the_outlines(shared_data, tmp_path):
    """The experiment (1,000 batches of the real MNIST sample, about a minute): held-out L1
    well below returning the input (200 batches reached only 0.20 against 0.35)."""
    run_dir = tmp_path / "run"
    result = run_cli(
        "experiment=edges2digits_pix2pix",
        f"paths.data_dir={shared_data}",
        run_dir=run_dir,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "status.json").read_text())["metrics"]
    assert metrics["eval/l1"] < 0.5 * metrics["eval/l1_input"]
