"""DDP on the CPU: ``trainer=ddp_cpu`` runs 2 processes over gloo, through the real CLI.

Each run carries the ``DistributedSyncCheck`` callback, which records per batch every rank's
parameter checksum and batch checksums; the tests then check what DDP promises: after every
step the ranks hold the same weights, and they never train on the same images.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from gan_lightning.callbacks.ddp_check import DistributedSyncCheck, _tensors
from gan_lightning.rng import seed_for_rank
from tests.conftest import TINY_CYCLEGAN, run_cli, write_unpaired
from tests.test_cli import status_of

BATCHES = 3
VARIANTS = {
    "gan": ("model=gan", "data=digits", "data.loader.batch_size=16"),
    "gan2d": ("model=gan2d", "data=ring", "data.loader.batch_size=32"),
    "dcgan": ("model=dcgan", "data=svhn", "data.loader.batch_size=8"),  # BatchNorm in G and D
    "cgan": ("model=cgan", "data=mnist", "data.loader.batch_size=16"),
    "cyclegan": (*TINY_CYCLEGAN, "data.root=${paths.data_dir}/unpaired"),
    # the toolkit's options that hold state of their own: spectral norm's vectors must agree too
    "cgan-projection-sn": (
        "model=cgan",
        "model/nets=dcgan",
        "data=mnist",
        "data.image_size=32",
        "data.loader.batch_size=8",
        "model/loss=hinge",
        "model.discriminator.spectral_norm=true",
        "model.discriminator.conditioning=projection",
        "model.generator.conditioning=cbn",
        # R1 (lazy), G's average and ADA: their gradients and state must agree too
        "model.training.r1_gamma=1",
        "model.training.r1_every=2",
        "model.training.ema.decay=0.9",
        "model/training/augment=ada",
        "model.training.augment.interval=1",
        "model.training.augment.speed_images=16",
    ),
    # bfloat16 autocast (runs on the CPU too): the AMP path under DDP
    "dcgan-bf16": (
        "model=dcgan",
        "data=svhn",
        "data.loader.batch_size=8",
        "trainer.precision=bf16-mixed",
    ),
}


def run_ddp(overrides, tmp_path: Path, data_root: Path, *extra: str):
    run_dir = tmp_path / "run"
    record = tmp_path / "sync.jsonl"
    result = run_cli(
        *overrides,
        "trainer=ddp_cpu",
        "trainer.max_epochs=1",
        f"trainer.limit_train_batches={BATCHES}",
        "callbacks.evaluation=null",
        f"paths.data_dir={data_root}",
        "callbacks=[default,ddp_check]",
        f"callbacks.ddp_check.record={record}",
        *extra,
        run_dir=run_dir,
        timeout=240,
    )
    return result, run_dir, record


@pytest.fixture
def ddp_data(data_root: Path) -> Path:
    write_unpaired(data_root / "unpaired", a=12, b=12)
    return data_root


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_two_cpu_processes_share_weights_and_split_the_data(variant, tmp_path, ddp_data):
    result, run_dir, record = run_ddp(VARIANTS[variant], tmp_path, ddp_data)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["batch"] for line in lines] == list(range(BATCHES))
    for line in lines:
        assert line["max_weight_gap"] == 0.0  # bitwise-equal parameters after every step
        rank0, rank1 = line["batch_sums"]
        assert len(rank0) == len(rank1) >= 1
        for a, b in zip(rank0, rank1, strict=True):
            assert a != b  # each rank trained on its own shard (both domains for CycleGAN)
    # the steps changed the weights: the check compared live parameters, not a frozen copy
    assert len({line["weight_sums"][0] for line in lines}) == BATCHES
    # rank 0 alone wrote the run folder's files, and rank 1 made no run folder of its own
    assert status_of(run_dir)["status"] == "completed"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in run_dir.iterdir() if p.is_dir()) == [
        ".hydra",
        "checkpoints",
        "csv",
        "samples",
    ]
    assert [p.parent for p in tmp_path.rglob("status.json")] == [run_dir]
    assert result.stdout.count("checkpoints: ") == 1
    header, *rows = (run_dir / "csv" / "metrics.csv").read_text().splitlines()
    assert "train/d_loss_epoch" in header and rows


@pytest.mark.slow
def test_ddp_resume_restores_each_ranks_random_stream(tmp_path, ddp_data):
    """A resumed DDP run continues every rank's own RNG state, not rank 0's on both."""
    from gan_lightning.checkpoints import load_checkpoint

    overrides = VARIANTS["gan"]
    result, run_dir, _ = run_ddp(overrides, tmp_path, ddp_data)
    assert result.returncode == 0, result.stderr[-3000:]
    extras = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["gan_lightning"]
    per_rank = extras["rng_per_rank"]
    assert len(per_rank) == 2
    assert not torch.equal(per_rank[0]["torch"], per_rank[1]["torch"])
    assert torch.equal(extras["rng"]["torch"], per_rank[0]["torch"])

    (tmp_path / "again").mkdir()
    resumed, _, record = run_ddp(
        overrides,
        tmp_path / "again",
        ddp_data,
        f"ckpt_path={run_dir}",
        "trainer.max_epochs=2",
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(lines) == BATCHES and all(line["max_weight_gap"] == 0.0 for line in lines)


def test_sync_check_is_silent_in_a_single_process(tmp_path):
    """One process has nothing to compare: the callback neither gathers nor records."""
    record = tmp_path / "sync.jsonl"
    result = run_cli(
        "debug=fast_dev_run",
        "callbacks=[default,ddp_check]",
        f"callbacks.ddp_check.record={record}",
        run_dir=tmp_path / "run",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert not record.exists()


def test_sync_check_takes_every_image_tensor_of_a_batch():
    images_a, images_b, labels = torch.ones(2, 1, 4, 4), torch.zeros(2, 3, 4, 4), torch.arange(2)
    found = list(_tensors({"pair": (images_a, images_b), "labels": labels}))
    assert len(found) == 3 and found[0] is images_a and found[1] is images_b
    with pytest.raises(ValueError, match="every_n_batches"):
        DistributedSyncCheck(every_n_batches=0)


def test_ddp_trainer_configs_compose(tmp_path):
    result = run_cli("trainer=ddp", "--cfg", "job", "--package", "trainer", run_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "find_unused_parameters: true" in result.stdout
    assert "devices: auto" in result.stdout and "accelerator: gpu" in result.stdout
    result = run_cli("trainer=ddp_cpu", "--cfg", "job", "--package", "trainer", run_dir=tmp_path)
    assert "process_group_backend: gloo" in result.stdout and "devices: 2" in result.stdout


def test_each_rank_draws_its_own_stream_without_rewinding():
    torch.manual_seed(42)
    plain = torch.randn(4)  # what every rank draws after seed_everything, before the offset
    draws = []
    for rank in (0, 1):
        torch.manual_seed(42)
        seed_for_rank(rank)
        draws.append(torch.randn(4))
    assert not torch.equal(draws[0], draws[1])
    assert not torch.equal(draws[0], plain)  # rank 0 does not replay the stream model init used


def test_a_resumed_rank_restores_its_own_state_and_re_derives_it_for_another_world_size():
    from gan_lightning.rng import collect_rng_state
    from gan_lightning.training.checkpoint_state import restore_rng

    states = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        states.append(collect_rng_state())
    extras = {"rng": states[0], "rng_per_rank": states}
    restore_rng(extras, rank=1, world_size=2)
    assert torch.equal(torch.get_rng_state(), states[1]["torch"])
    restore_rng(extras, rank=1, world_size=4)  # saved by 2, resumed on 4
    restored = torch.get_rng_state()
    assert not torch.equal(restored, states[0]["torch"])
    assert not torch.equal(restored, states[1]["torch"])


@pytest.mark.slow
def test_ddp_resumes_mid_epoch_exactly(tmp_path):
    """A checkpoint written every 6 steps, inside the first epoch of 6 batches per rank: each
    rank resumes at its own shard's position with its own random stream."""
    from tests.test_reliability import compare_with_uninterrupted

    common = (
        "trainer=ddp_cpu",
        "data.loader.batch_size=16",
        "trainer.limit_train_batches=6",
        "trainer.log_every_n_steps=1",
        "callbacks.evaluation=null",
        "seed=3",
    )
    every_6 = ("callbacks.model_checkpoint=null", "callbacks.step_checkpoint.every_n_train_steps=6")
    runs = {
        "straight": ("trainer.max_steps=20",),
        "first": (*every_6, "trainer.max_steps=8"),  # last.ckpt: step 6
        # a copy of the stopped run's folder, resumed in place: its CSV's steps 6-7 (logged
        # after the checkpoint) are logged again, once
        "resumed": ("trainer.max_steps=20", "ckpt_path=last"),
    }
    for name, args in runs.items():
        if name == "resumed":
            shutil.copytree(tmp_path / "first", tmp_path / name)
        result = run_cli(*common, *args, run_dir=tmp_path / name, timeout=240)
        assert result.returncode == 0, result.stderr[-3000:]
        if name == "first":
            saved = torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True)
            assert saved["global_step"] == 6
            assert len(saved["gan_lightning"]["rng_per_rank"]) == 2
    compare_with_uninterrupted(*(tmp_path / name for name in runs))
