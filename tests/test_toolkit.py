"""The toolkit composed into every variant's step: penalties, augmentation, ADA, the average of G.

In-process runs (``train(cfg)``, one batch) keep these cheap: each model runs once with
DiffAugment and once with ADA, each time with both penalties (R1 lazy), the average of G and
spectral norm, so every option meets every model it applies to.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from gan_lightning.augment import AdaptiveAugment, DiffAugment
from gan_lightning.checkpoints import load_networks
from gan_lightning.ema import EMAOptions
from gan_lightning.train import train
from tests.conftest import (
    TINY_CYCLEGAN,
    TINY_PIX2PIX,
    quiet_trainer,
    run_cli,
    write_facades,
    write_unpaired,
)
from tests.test_adversarial import SHAPE, RecordingGAN, loader, make_gan
from tests.test_reliability import LOSSES, step_losses
from tests.test_stackgan import TINY as TINY_STACKGAN

PENALTIES_AND_EMA = (
    "model.training.gp_weight=10",
    "model.training.r1_gamma=1",
    "model.training.r1_every=2",
    "model.training.ema.decay=0.9",
)
AUGMENTS = {
    "diffaugment": ("model/training/augment=diffaugment",),
    "ada": ("model/training/augment=ada", "model.training.augment.speed_images=8"),
}
MODELS = {
    "gan": ("model=gan", "model.discriminator.spectral_norm=true"),
    "dcgan": ("model=dcgan", "data=mnist", "data.image_size=32", "model.generator.base_width=4",
              "model.discriminator.base_width=4", "model.discriminator.spectral_norm=true"),
    "cgan-projection": ("model=cgan", "model/nets=dcgan", "data=mnist", "data.image_size=32",
                        "model.generator.base_width=4", "model.discriminator.base_width=4",
                        "model.discriminator.conditioning=projection", "model/loss=hinge",
                        "model.discriminator.spectral_norm=true"),
    "cyclegan": (*TINY_CYCLEGAN, "data.root=${paths.data_dir}/unpaired",
                 "model.discriminator_a.spectral_norm=true"),
    "pix2pix": (*TINY_PIX2PIX[:1], "data=facades", *TINY_PIX2PIX[1:],
                "data.loader.batch_size=2", "model.discriminator.spectral_norm=true"),
    "stackgan": (*TINY_STACKGAN, "data=digit_captions", "model.discriminator1.spectral_norm=true"),
}  # fmt: skip


@pytest.fixture(scope="module")
def toolkit_data(tmp_path_factory) -> Path:
    from tests.conftest import write_mnist

    root = write_mnist(tmp_path_factory.mktemp("toolkit_data"), train=64, test=16)
    write_unpaired(root / "unpaired", a=4, b=4)
    write_facades(root / "facades", train=4, test=2)
    return root


def composed(output_dir: Path, *overrides: str):
    with initialize_config_module(config_module="gan_lightning.conf", version_base="1.3"):
        return compose(
            config_name="train",
            overrides=[
                "debug=fast_dev_run", "callbacks.evaluation=null", "logger=csv",
                f"paths.output_dir={output_dir}", *overrides,
            ],
        )  # fmt: skip


@pytest.mark.parametrize("augment", sorted(AUGMENTS))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_option_runs_on_every_model(model, augment, tmp_path, toolkit_data):
    overrides = (*MODELS[model], *PENALTIES_AND_EMA, *AUGMENTS[augment])
    cfg = composed(tmp_path, f"paths.data_dir={toolkit_data}", *overrides)
    train(cfg)
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "completed"
    assert "train/d_penalty_epoch" in status["metrics"]
    if augment == "ada":
        assert "train/augment_p_epoch" in status["metrics"]
    assert list((tmp_path / "samples").glob("*.png"))


def test_augmentation_is_refused_for_points_in_one_line(tmp_path):
    result = run_cli(
        "model=gan2d", "data=ring", "model/training/augment=diffaugment", "debug=fast_dev_run",
        run_dir=tmp_path / "run",
    )  # fmt: skip
    assert result.returncode == 2
    assert "augment works on images, and this model trains on 2-D points" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


OPTIONS = {
    "gp": dict(gp_weight=10.0),
    "r1": dict(r1_gamma=1.0, r1_every=2),
    "ema": dict(ema=EMAOptions(decay=0.9)),
    "diffaugment": dict(augment=DiffAugment()),
    "ada": dict(augment=AdaptiveAugment(interval=1, speed_images=8)),
}


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_with_each_option_a_d_update_moves_only_d_and_a_g_update_only_g(option):
    model = make_gan(RecordingGAN, **OPTIONS[option])
    quiet_trainer(max_steps=4).fit(model, loader())
    assert model.events == [("D", False, True), ("G", True, False)] * 2
    if option == "ema":  # the average follows G: it exists, was updated, and differs from G
        assert model.averages is not None and model.averages.ready


# --- one run with everything stateful on, shared by the checkpoint tests -------------------------
STATEFUL = (
    *PENALTIES_AND_EMA,
    "model.training.r1_every=3",
    "model.training.r1_rampup=15",  # the resume at update 10 falls inside the ramp
    "model/training/augment=ada",
    "model.training.augment.interval=1",
    "model.training.augment.speed_images=64",
    "model.discriminator.spectral_norm=true",
    "model.generator.batch_norm=true",  # the average re-estimates G's BatchNorm statistics
    "trainer.limit_train_batches=5",
    "trainer.log_every_n_steps=1",
    "callbacks.evaluation=null",
    "model.training.log_grad_norms=true",
    "seed=5",
)


def losses_by_step(run_dir: Path) -> dict[int, tuple[str, ...]]:
    return step_losses(run_dir, (*LOSSES, "train/augment_p_step"))


@pytest.fixture(scope="module")
def stateful_runs(tmp_path_factory) -> dict[str, Path]:
    """4 epochs straight, and 2 epochs + a resume to 4."""
    root = tmp_path_factory.mktemp("stateful")
    runs = {"straight": root / "straight", "first": root / "first", "resumed": root / "resumed"}
    for name, epochs in (("straight", 4), ("first", 2), ("resumed", 4)):
        args = [*STATEFUL, f"trainer.max_epochs={epochs}"]
        if name == "resumed":
            args.append(f"ckpt_path={runs['first']}")
        result = run_cli(*args, run_dir=runs[name])
        assert result.returncode == 0, result.stderr[-3000:]
    return runs


def test_resuming_with_every_stateful_option_gives_the_uninterrupted_run(stateful_runs):
    whole, resumed = (
        losses_by_step(stateful_runs["straight"]),
        losses_by_step(stateful_runs["resumed"]),
    )
    assert len(whole) == 20 and sorted(resumed) == sorted(whole)[10:]
    assert {s: whole[s] for s in resumed} == resumed
    a, b = (
        torch.load(stateful_runs[n] / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        for n in ("straight", "resumed")
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the state each option carries is in the checkpoint and moved during the run
    assert any(float(p) > 0 for _, _, p in whole.values())  # ADA's p moved, and
    assert float(a["augment.p"]) == float(whole[max(whole)][2])  # the last one was saved
    assert int(a["penalties.d_updates"]) == 20 and int(a["averages.updates"]) == 20
    norms = ("train/d_grad_norm_step", "train/g_grad_norm_step")
    whole_norms, resumed_norms = (
        step_losses(stateful_runs[n], norms) for n in ("straight", "resumed")
    )
    assert {s: whole_norms[s] for s in resumed_norms} == resumed_norms
    assert all(float(norm) > 0 for row in whole_norms.values() for norm in row)
    assert any(k.endswith("._u") for k in a)  # spectral norm's power-iteration vectors
    # the average's BatchNorm statistics are its own, from G's inputs kept in the checkpoint
    ckpt = torch.load(stateful_runs["first"] / "checkpoints" / "last.ckpt", weights_only=True)
    # 2 epochs of 5 batches, two calls of G each (the fakes of D's update and of G's)
    assert len(ckpt["gan_lightning"]["generator_inputs"]["generator"]) == 20
    statistic = "generator.body.1.running_mean"
    assert not torch.equal(a[f"averages.copies.{statistic}"], a[statistic])


def test_a_checkpoint_written_before_the_average_starts_gives_the_raw_g(stateful_runs, tmp_path):
    """As grids and evaluation during training: an average that holds no update yet is G's
    starting weights, not a better G."""
    checkpoint = torch.load(
        stateful_runs["straight"] / "checkpoints" / "last.ckpt", weights_only=False
    )
    checkpoint["state_dict"]["averages.updates"].zero_()
    early = tmp_path / "before_start_step.ckpt"
    torch.save(checkpoint, early)
    chosen, _ = load_networks(early, ["generator"])
    for name, tensor in chosen["generator"].state_dict().items():
        assert torch.equal(tensor, checkpoint["state_dict"][f"generator.{name}"])


def test_the_inference_commands_use_the_average_unless_told_not_to(stateful_runs, tmp_path):
    ckpt = stateful_runs["straight"] / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    average, _ = load_networks(ckpt, ["generator"])
    raw, _ = load_networks(ckpt, ["generator"], ema=False)
    for name, tensor in average["generator"].state_dict().items():
        assert torch.equal(tensor, state[f"averages.copies.generator.{name}"])
        assert torch.equal(raw["generator"].state_dict()[name], state[f"generator.{name}"])
    assert any(
        not torch.equal(a, b)
        for a, b in zip(
            average["generator"].parameters(), raw["generator"].parameters(), strict=True
        )
    )
    drawn = {}
    for ema in ("true", "false"):
        out = tmp_path / f"ema_{ema}"
        result = run_cli(
            f"ckpt={ckpt}", "n=4", f"out={out}", f"ema={ema}",
            module="gan_lightning.sample", run_dir=tmp_path / "unused",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        drawn[ema] = sorted(p.read_bytes() for p in out.glob("*.png"))
    assert drawn["true"] != drawn["false"]


def test_penalties_with_packing_and_several_d_updates_per_g_update():
    """PacGAN packs: each image of a pack is interpolated on its own, D judges the packs; with
    d_steps=2 every D update is counted for lazy R1 and G updates every second batch."""
    from gan_lightning.nets.mlp import MLPDiscriminator

    packed_d = MLPDiscriminator(in_shape=SHAPE, hidden_dims=[16], dropout=0.0, pack=2)
    model = make_gan(
        RecordingGAN,
        discriminator=packed_d,
        pack=2,
        d_steps=2,
        gp_weight=10.0,
        r1_gamma=1.0,
        r1_every=3,
    )
    quiet_trainer(max_epochs=1).fit(model, loader(n_batches=4))
    assert model.events == [("D", False, True), ("G", True, False)] * 2  # G after every 2nd D
    assert int(model.penalties.d_updates) == 4
