"""CIFAR-10 from the official python batches, on files written in that format by the fixture."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from gan_lightning.data.cifar10 import CIFAR10DataModule, read_cifar_batch
from gan_lightning.data.in_memory import InMemoryImageDataset
from gan_lightning.data.loading import LoaderOptions
from gan_lightning.errors import UserError
from tests.conftest import first_batch, quiet_trainer, run_cli, write_cifar10

SMALL = LoaderOptions(batch_size=8)


def cifar(root, **kwargs) -> CIFAR10DataModule:
    return CIFAR10DataModule(data_dir=str(root), loader=kwargs.pop("loader", SMALL), **kwargs)


def test_reads_the_train_batches_in_order_as_nchw_in_signed_unit_range(tmp_path):
    images, labels, _, _ = write_cifar10(tmp_path)  # 5 batches of 8
    dm = cifar(tmp_path)
    batch, batch_labels = first_batch(dm)
    assert batch.shape == (8, 3, 32, 32) and batch.dtype == torch.float32
    assert batch_labels.dtype == torch.long
    assert isinstance(dm.train_set, InMemoryImageDataset)
    assert torch.equal(dm.train_set.images, torch.from_numpy(images))  # data_batch_1 first
    assert torch.equal(dm.train_set.labels, torch.from_numpy(labels))
    scaled = dm.train_set.__getitems__(list(range(40)))[0]
    assert scaled.min() == -1 and scaled.max() == 1
    assert (dm.image_size, dm.channels, dm.num_classes) == (32, 3, 10)


def test_rows_are_the_red_green_blue_planes_of_the_image(tmp_path):
    write_cifar10(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_2", "rb") as handle:
        raw = pickle.load(handle, encoding="bytes")
    row = raw[b"data"][3]  # the 4th image of the second batch: image 8 + 3 of the train split
    images, labels = read_cifar_batch(tmp_path / "cifar-10-batches-py" / "data_batch_2")
    for channel, y, x in [(0, 0, 0), (0, 5, 7), (1, 2, 3), (2, 31, 30)]:
        assert images[3, channel, y, x] == row[channel * 1024 + y * 32 + x]
    assert labels.tolist() == raw[b"labels"]
    dm = cifar(tmp_path)
    dm.setup("fit")
    assert torch.equal(dm.train_set.images[11], torch.from_numpy(images[3]))


def test_the_numpy_1_name_of_the_array_rebuilder_is_read(tmp_path):
    """The official files were written by numpy 1 (``numpy.core``), the fixture's by numpy 2."""
    write_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    raw = path.read_bytes()
    renamed = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    if renamed == raw:
        renamed = raw.replace(b"numpy.core.multiarray\n", b"numpy._core.multiarray\n")
    assert renamed != raw
    path.write_bytes(renamed)
    images, labels = read_cifar_batch(path)
    assert images.shape == (12, 3, 32, 32) and labels.shape == (12,)


def test_test_split_and_resizing(tmp_path):
    _, _, test_images, test_labels = write_cifar10(tmp_path, test=12)
    dm = cifar(tmp_path, split="test", channels=1, image_size=16, loader=LoaderOptions(4))
    batch, _ = first_batch(dm)
    assert batch.shape == (4, 1, 16, 16) and len(dm.train_set) == 12
    assert torch.equal(dm.train_set.labels, torch.from_numpy(test_labels))
    with pytest.raises(ValueError, match="split"):
        CIFAR10DataModule(split="extra")
    with pytest.raises(ValueError, match="num_classes must be 10"):
        CIFAR10DataModule(num_classes=100)


def test_missing_files_are_one_line_naming_folder_files_and_download(tmp_path):
    with pytest.raises(UserError) as info:
        cifar(tmp_path / "nowhere").validate()
    message = str(info.value)
    assert "\n" not in message
    assert "nowhere/cifar-10-batches-py/" in message
    assert "data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5" in message
    assert "cifar-10-python.tar.gz" in message and "data.download=true" in message
    write_cifar10(tmp_path / "some")
    (tmp_path / "some" / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(UserError, match=r"missing data_batch_4;"):
        cifar(tmp_path / "some").validate()
    cifar(tmp_path / "some", split="test").validate()  # the test split needs only test_batch


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    write_cifar10(tmp_path)
    target = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    target.write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}, protocol=2))
    with pytest.raises(UserError, match=r"data_batch_3 is not a readable CIFAR-10 batch") as info:
        first_batch(cifar(tmp_path))
    assert "mkdir" in str(info.value) and not marker.exists()


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x80\x02}q\x00(", "not a readable CIFAR-10 batch"),  # truncated
        (pickle.dumps({b"labels": [1]}, protocol=2), "no b'data' and b'labels'"),
        (
            pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}, protocol=2),
            r"expected data \(N, 3072\)",
        ),
        (
            pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, protocol=2),
            "labels outside 0-9",
        ),
    ],
    ids=["truncated", "not-a-batch", "wrong-shape", "bad-label"],
)
def test_damaged_batches_name_the_file(tmp_path, content, match):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(content)
    with pytest.raises(UserError, match=match) as info:
        first_batch(cifar(tmp_path, split="test", loader=LoaderOptions(1)))
    assert "test_batch" in str(info.value) and "\n" not in str(info.value)


def test_download_goes_through_torchvision_and_its_failure_is_one_line(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    def fake_cifar10(root, train, download):  # what torchvision leaves: the unpacked folder
        calls.append((root, train, download))
        write_cifar10(tmp_path / "fetched")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fake_cifar10)
    dm = cifar(tmp_path / "fetched", download=True)
    first_batch(dm)
    assert calls == [(str(tmp_path / "fetched"), True, True)] and len(dm.train_set) == 40

    def offline(root, train, download):
        raise RuntimeError("<urlopen error [Errno -3] Temporary failure\nin name resolution>")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(UserError) as info:
        cifar(tmp_path / "empty", download=True).prepare_data()
    message = str(info.value)
    assert message.startswith("CIFAR-10 download failed (<urlopen error")
    assert "\n" not in message and "cifar-10-python.tar.gz" in message
    assert "data.download=false" in message and "missing data_batch_1" in message


def test_the_conditional_gan_trains_on_it(tmp_path):
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from gan_lightning.config_check import check_config

    write_cifar10(tmp_path)
    overrides = ["model=cgan", "model/nets=dcgan", "data=cifar10", f"paths.data_dir={tmp_path}"]
    with initialize_config_module("gan_lightning.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "data.loader.batch_size=8"])
    parts = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("model", "data")}
    check_config(OmegaConf.create(parts))  # the labels check of the command line's start-up
    assert parts["model"]["num_classes"] == 10
    data, model = instantiate(parts["data"]), instantiate(parts["model"])
    quiet_trainer(fast_dev_run=True).fit(model, datamodule=data)


def test_fast_dev_run_from_the_command_line_with_a_limit(tmp_path):
    write_cifar10(tmp_path / "data")
    run_dir = tmp_path / "run"
    result = run_cli(
        "model=dcgan",
        "data=cifar10",
        f"paths.data_dir={tmp_path / 'data'}",
        "debug=fast_dev_run",
        "data.loader.batch_size=8",
        "data.limit=16",
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert output.count("training on a fixed subset of 16 of 40 images (data.limit=16") == 1
