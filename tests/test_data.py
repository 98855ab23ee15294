"""Data modules on files written in the real on-disk formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan_lightning.data.digits import DigitsDataModule
from gan_lightning.data.idx import read_idx
from gan_lightning.data.loading import LoaderOptions
from gan_lightning.data.mnist import MNISTDataModule
from gan_lightning.data.transforms import fit_images, to_signed_unit, to_uint8
from gan_lightning.errors import UserError
from tests.conftest import first_batch, make_digit_like_images, write_idx


def test_digits_batches_are_scaled_to_signed_unit():
    images, labels = first_batch(DigitsDataModule(loader=LoaderOptions(batch_size=32)))
    assert images.shape == (32, 1, 8, 8) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert images.min() == -1 and images.max() == 1  # the full range is used
    assert labels.dtype == torch.long and set(labels.tolist()) <= set(range(10))


def test_digits_resize_and_rgb():
    images, _ = first_batch(
        DigitsDataModule(image_size=32, channels=3, loader=LoaderOptions(batch_size=4))
    )
    assert images.shape == (4, 3, 32, 32)
    assert torch.equal(images[:, 0], images[:, 2])


def test_mnist_reads_idx_files(mnist_root):
    dm = MNISTDataModule(data_dir=str(mnist_root), loader=LoaderOptions(batch_size=16))
    images, labels = first_batch(dm)
    assert images.shape == (16, 1, 28, 28)
    assert images.min() >= -1 and images.max() == 1
    written, written_labels = make_digit_like_images(256, seed=0)
    assert torch.equal(dm.train_set.images[:, 0], torch.from_numpy(written))
    assert torch.equal(dm.train_set.labels, torch.from_numpy(written_labels).long())


def test_mnist_test_split_and_gzip(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images, labels = make_digit_like_images(40, seed=3)
    write_idx(raw / "t10k-images-idx3-ubyte.gz", images, compress=True)
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", labels, compress=True)
    dm = MNISTDataModule(data_dir=str(tmp_path), split="test", loader=LoaderOptions(batch_size=8))
    dm.setup()
    assert torch.equal(dm.train_set.images[:, 0], torch.from_numpy(images))


def test_mnist_missing_files_name_the_directory_and_files(tmp_path):
    dm = MNISTDataModule(data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(UserError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert "nowhere/MNIST/raw" in message
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert "data.download=true" in message and "\n" not in message


def test_mnist_truncated_idx_is_a_clear_error(mnist_root):
    path = mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(UserError, match="truncated"):
        MNISTDataModule(data_dir=str(mnist_root)).setup()


def test_mnist_fewer_images_than_a_batch(mnist_root):
    with pytest.raises(UserError, match="lower data.loader.batch_size"):
        MNISTDataModule(data_dir=str(mnist_root), loader={"batch_size": 1000}).setup()


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="magic"):
        read_idx(path)


def test_real_mnist_sample(shared_data):
    dm = MNISTDataModule(data_dir=str(shared_data), loader=LoaderOptions(batch_size=64))
    dm.setup()
    assert len(dm.train_set) == 8000
    assert sorted(dm.train_set.labels.unique().tolist()) == list(range(10))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loader": {"batch_size": 0}}, "batch_size"),
        ({"channels": 2}, "channels"),
        ({"num_classes": 5}, "num_classes"),
        ({"loader": {"num_workers": -1}}, "num_workers"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DigitsDataModule(**kwargs)


def test_uint8_round_trip_and_channel_conversion():
    x = torch.randint(0, 256, (2, 1, 6, 6), dtype=torch.uint8)
    assert torch.equal(to_uint8(to_signed_unit(x)), x)
    rgb = fit_images(x, 6, 3)
    assert rgb.shape == (2, 3, 6, 6)
    assert torch.equal(fit_images(rgb, 6, 1), x)  # grey -> RGB -> grey is lossless
    assert fit_images(x, 12, 1).shape == (2, 1, 12, 12)


# --- loader options -------------------------------------------------------------------------------
def test_loader_options_check_their_fields_and_resolve_pinning(monkeypatch):
    with pytest.raises(ValueError, match="^batch_size must be positive, got 0$"):
        LoaderOptions(batch_size=0)
    with pytest.raises(ValueError, match="^num_workers must be >= 0, got -1$"):
        LoaderOptions(num_workers=-1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not LoaderOptions().should_pin and LoaderOptions(pin_memory=True).should_pin
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert LoaderOptions().should_pin and not LoaderOptions(pin_memory=False).should_pin


def test_a_loader_dict_changes_only_the_fields_it_names(tmp_path):
    from gan_lightning.data.celeba import CelebADataModule

    assert CelebADataModule(str(tmp_path)).loader == LoaderOptions(batch_size=64, num_workers=2)
    data = CelebADataModule(str(tmp_path), loader={"batch_size": 8})
    assert (data.batch_size, data.num_workers) == (8, 2)
    data.batch_size = 4  # as Lightning's batch-size finder does
    assert data.loader == LoaderOptions(batch_size=4, num_workers=2)
    with pytest.raises(TypeError, match="loader must be"):
        CelebADataModule(str(tmp_path), loader=8)


def test_the_data_configs_build_loader_options(recwarn):
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    with initialize_config_module("gan_lightning.conf", version_base="1.3"):
        cfg = compose("train", overrides=["data=svhn", "data.loader.num_workers=1"])
        default = compose("train", overrides=["data=digits"])
    assert instantiate(cfg.data.loader) == LoaderOptions(batch_size=128, num_workers=1)
    data = instantiate(default.data)
    assert data.loader == LoaderOptions() and data.pin_memory == torch.cuda.is_available()
    first_batch(data)
    assert not [w for w in recwarn if "pin_memory" in str(w.message)]


def test_in_memory_sets_default_to_their_own_size():
    data = DigitsDataModule(image_size=None, channels=None)
    assert (data.image_size, data.channels) == (8, 1)


def test_a_failed_mnist_download_is_one_line(tmp_path, monkeypatch):
    import torchvision

    def offline(root, train, download):
        (Path(root) / "MNIST" / "raw").mkdir(parents=True)  # as torchvision does first
        raise RuntimeError("<urlopen error [Errno -3] Temporary failure\nin name resolution>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    data_dir = tmp_path / "data"
    with pytest.raises(UserError) as info:
        MNISTDataModule(data_dir=str(data_dir), download=True).prepare_data()
    assert not data_dir.exists()  # no empty folders left behind
    message = str(info.value)
    assert message.startswith("MNIST download failed (<urlopen error")
    # what to copy where, not the data.download=true that just failed
    assert "\n" not in message and "data.download=false" in message
    assert f"{data_dir.resolve() / 'MNIST' / 'raw'}: missing train-images-idx3-ubyte" in message
