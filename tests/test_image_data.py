"""SVHN (.mat) and folder-of-images (CelebA) data modules on files in the real on-disk formats."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from gan_lightning.data.celeba import CelebADataModule
from gan_lightning.data.image_folder import ImageFolderDataset, list_images
from gan_lightning.data.loading import LoaderOptions
from gan_lightning.data.svhn import SVHNDataModule
from gan_lightning.errors import UserError
from tests.conftest import first_batch, write_faces, write_svhn

# ---------------------------------------------------------------- SVHN


def test_svhn_reads_mat_and_maps_label_10_to_0(tmp_path):
    x, y = write_svhn(tmp_path / "svhn" / "train_32x32.mat", 40)
    dm = SVHNDataModule(data_dir=str(tmp_path), loader=LoaderOptions(batch_size=8))
    images, labels = first_batch(dm)
    assert images.shape == (8, 3, 32, 32) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert labels.dtype == torch.long
    stored = dm.train_set.images
    assert stored.shape == (40, 3, 32, 32) and stored.dtype == torch.uint8
    assert torch.equal(stored[5], torch.from_numpy(x[:, :, :, 5]).permute(2, 0, 1))
    expected = torch.from_numpy(y[:, 0].astype(np.int64)) % 10
    assert torch.equal(dm.train_set.labels, expected)
    assert dm.train_set.labels[:3].tolist() == [0, 1, 0]
    assert dm.train_set.labels.max() <= 9


def test_svhn_split_selection_flat_layout_and_grey(tmp_path):
    write_svhn(tmp_path / "train_32x32.mat", 20, seed=0)
    x, _ = write_svhn(tmp_path / "test_32x32.mat", 12, seed=1)  # beside, not in svhn/
    dm = SVHNDataModule(
        data_dir=str(tmp_path), split="test", channels=1, loader=LoaderOptions(batch_size=4)
    )
    images, _ = first_batch(dm)
    assert len(dm.train_set) == 12 and images.shape == (4, 1, 32, 32)
    with pytest.raises(ValueError, match="split"):
        SVHNDataModule(split="valid")


def test_svhn_missing_file_names_directory_and_file(tmp_path):
    dm = SVHNDataModule(data_dir=str(tmp_path / "nowhere"), split="extra")
    with pytest.raises(UserError) as info:
        dm.validate()
    message = str(info.value)
    assert "nowhere/svhn" in message and "extra_32x32.mat" in message
    assert "data.download=true" in message and "\n" not in message


def test_svhn_corrupt_mat_names_the_file(tmp_path):
    path = tmp_path / "svhn" / "train_32x32.mat"
    write_svhn(path, 40)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(UserError) as info:
        SVHNDataModule(data_dir=str(tmp_path), loader=LoaderOptions(batch_size=8)).setup()
    assert "train_32x32.mat" in str(info.value) and "\n" not in str(info.value)


def test_svhn_mat_without_svhn_arrays(tmp_path):
    path = tmp_path / "svhn" / "train_32x32.mat"
    path.parent.mkdir()
    savemat(path, {"images": np.zeros((4, 4))})
    with pytest.raises(UserError, match="'X' and 'y'"):
        SVHNDataModule(data_dir=str(tmp_path)).setup()


def test_svhn_failed_download_is_one_line(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise OSError("Name or service not known\nmore detail")

    monkeypatch.setattr(tv_utils, "download_url", offline)
    dm = SVHNDataModule(data_dir=str(tmp_path), download=True)
    dm.validate()  # download=true: nothing to complain about yet
    with pytest.raises(UserError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert "ufldl.stanford.edu/housenumbers/train_32x32.mat" in message and "\n" not in message


# ---------------------------------------------------------------- folders of images (CelebA)


@pytest.fixture
def celeba_root(tmp_path: Path) -> Path:
    """data_dir with celeba/img_align_celeba/: 12 jpgs, one truncated jpg, one attribute file."""
    folder = tmp_path / "celeba" / "img_align_celeba"
    write_faces(folder, 12)
    whole = (folder / "000001.jpg").read_bytes()
    (folder / "000013.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "list_attr.txt").write_text("202599\n5_o_Clock_Shadow Arched_Eyebrows\n")
    return tmp_path


def test_celeba_batches_and_skips_the_truncated_file(celeba_root, caplog):
    dm = CelebADataModule(data_dir=str(celeba_root), loader=LoaderOptions(batch_size=4))
    with caplog.at_level(logging.WARNING):
        images, labels = first_batch(dm)
    assert images.shape == (4, 3, 64, 64) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1 and images.max() > 0.9
    assert labels.tolist() == [-1] * 4 and labels.dtype == torch.long
    assert len(dm.train_set) == 12
    assert "000013.jpg" not in [path.name for path in dm.train_set.files]
    warnings = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1
    assert "skipped 1 unreadable image(s)" in warnings[0] and "000013.jpg" in warnings[0]
    assert dm.image_size == 64 and dm.channels == 3 and dm.num_classes is None


def test_celeba_grey_and_other_sizes(celeba_root):
    dm = CelebADataModule(
        data_dir=str(celeba_root), image_size=32, channels=1, crop_size=148,
        loader=LoaderOptions(batch_size=4),
    )  # fmt: skip
    images, _ = first_batch(dm)
    assert images.shape == (4, 1, 32, 32)


def test_celeba_missing_and_empty_folders(tmp_path):
    dm = CelebADataModule(data_dir=str(tmp_path), loader=LoaderOptions())
    with pytest.raises(UserError) as info:
        dm.validate()
    message = str(info.value)
    assert "celeba/img_align_celeba/" in message and "data.download=true" in message
    assert "\n" not in message
    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    (folder / "list_attr.txt").write_text("not an image")
    with pytest.raises(UserError) as info:
        dm.validate()
    assert str(info.value).startswith("no images in") and "\n" not in str(info.value)
    with pytest.raises(UserError, match="no images in"):
        dm.setup()


def test_celeba_fewer_images_than_a_batch(celeba_root):
    with pytest.raises(UserError, match="fewer than batch_size=64; lower data.loader.batch_size"):
        CelebADataModule(data_dir=str(celeba_root), loader=LoaderOptions(batch_size=64)).setup()


def test_celeba_crop_larger_than_the_images(tmp_path):
    write_faces(tmp_path / "celeba" / "img_align_celeba", 4, size=(89, 109))
    dm = CelebADataModule(data_dir=str(tmp_path), loader=LoaderOptions(batch_size=2))
    with pytest.raises(UserError, match="crop_size=89"):
        dm.setup()
    dm = CelebADataModule(data_dir=str(tmp_path), crop_size=89, loader=LoaderOptions(batch_size=2))
    assert first_batch(dm)[0].shape == (2, 3, 64, 64)


def test_celeba_failed_download_says_where_to_put_the_jpgs(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("gdown is not installed\nsecond line")

    monkeypatch.setattr(torchvision.datasets, "CelebA", Offline)
    dm = CelebADataModule(data_dir=str(tmp_path), download=True, loader=LoaderOptions())
    with pytest.raises(UserError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert "celeba/img_align_celeba/" in message and "gdown" in message and "\n" not in message


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loader": {"batch_size": 0}}, "batch_size"),
        ({"image_size": 0}, "image_size"),
        ({"crop_size": 0}, "crop_size"),
        ({"channels": 4}, "channels"),
        ({"num_classes": 10}, "num_classes"),
        ({"loader": {"num_workers": -1}}, "num_workers"),
    ],
)
def test_celeba_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CelebADataModule(**kwargs)


def test_list_images_filters_and_sorts(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.JpEg", "d.bmp", "e.webp", "notes.txt", "f.gif", "._a.jpg"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.jpg").mkdir()
    names = [path.name for path in list_images(tmp_path)]
    assert names == ["a.jpg", "b.PNG", "c.JpEg", "d.bmp", "e.webp"]


def test_grey_jpg_and_rgba_png_are_converted(tmp_path):
    grey = tmp_path / "grey.jpg"
    Image.fromarray(np.full((10, 12), 200, dtype=np.uint8), mode="L").save(grey)
    rgba_pixels = np.zeros((10, 12, 4), dtype=np.uint8)
    rgba_pixels[..., 0] = 255
    rgba_pixels[:, :6, 3] = 255  # left half opaque red, right half fully transparent
    rgba = tmp_path / "rgba.png"
    Image.fromarray(rgba_pixels, mode="RGBA").save(rgba)

    rgb_set = ImageFolderDataset([grey, rgba], channels=3)
    grey_as_rgb, label = rgb_set[0]
    assert grey_as_rgb.shape == (3, 10, 12) and label.item() == -1
    assert torch.equal(grey_as_rgb[0], grey_as_rgb[2])
    flat, _ = rgb_set[1]
    assert flat.shape == (3, 10, 12)
    assert flat[:, 0, 0].tolist() == [1.0, -1.0, -1.0]  # opaque red stays red
    assert flat[:, 0, -1].tolist() == [1.0, 1.0, 1.0]  # transparent flattens onto white

    grey_set = ImageFolderDataset([grey, rgba], channels=1)
    assert grey_set[0][0].shape == (1, 10, 12) and grey_set[1][0].shape == (1, 10, 12)


def test_decode_failure_mid_epoch_falls_back_to_the_next_image(tmp_path, caplog):
    write_faces(tmp_path, 3, size=(16, 16))
    files = list_images(tmp_path)
    dataset = ImageFolderDataset(files)
    assert len(dataset) == 3
    files[1].write_bytes(b"gone bad after set-up")
    with caplog.at_level(logging.WARNING):
        image, _ = dataset[1]
        again, _ = dataset[1]
    assert torch.equal(image, dataset[2][0]) and torch.equal(again, image)
    assert dataset.decode_failures == 1
    assert sum("could not decode" in r.getMessage() for r in caplog.records) == 1


def test_real_celeba_sample(shared_data):
    dm = CelebADataModule(
        data_dir=str(shared_data), image_size=64, loader=LoaderOptions(batch_size=8)
    )
    images, labels = first_batch(dm)
    assert len(dm.train_set) == 32
    assert images.shape == (8, 3, 64, 64)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.1
    assert labels.tolist() == [-1] * 8


def test_celeba_flat_layout(tmp_path):
    write_faces(tmp_path / "img_align_celeba", 8)
    images, _ = first_batch(
        CelebADataModule(data_dir=str(tmp_path), loader=LoaderOptions(batch_size=4))
    )
    assert images.shape == (4, 3, 64, 64)
