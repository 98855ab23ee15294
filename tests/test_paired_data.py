"""Paired data: the side-by-side pix2pix layout (read from files in that format), its download,
and the offline sets derived from images on disk (colorize, edges2digits)."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning.data.derived_pairs import (
    ColorizeDataModule,
    EdgesToDigitsDataModule,
    outline,
    to_grey,
)
from gan_lightning.data.loading import LoaderOptions
from gan_lightning.data.paired import PairedDataModule
from gan_lightning.errors import UserError
from tests.conftest import (
    first_batch,
    write_facades,
    write_faces,
    write_mnist,
    write_side_by_side,
)


def paired(root, batch_size=2, **kwargs) -> PairedDataModule:
    defaults = dict(image_size=32, loader=LoaderOptions(batch_size=batch_size))
    return PairedDataModule(str(root), **{**defaults, **kwargs})


def write_two_colour_pair(path, left=(255, 0, 0), right=(0, 0, 255), size=16):
    pixels = np.zeros((size, 2 * size, 3), dtype=np.uint8)
    pixels[:, :size], pixels[:, size:] = left, right
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


# --- side by side --------------------------------------------------------------------------------
@pytest.mark.parametrize(("direction", "source_channel"), [("AtoB", 0), ("BtoA", 2)])
def test_direction_picks_which_half_is_the_input(tmp_path, direction, source_channel):
    for i in range(2):
        write_two_colour_pair(tmp_path / "train" / f"{i}.png")
    data = paired(tmp_path, direction=direction, image_size=16, load_size=16, flip=False)
    source, target = first_batch(data)
    assert source.shape == target.shape == (2, 3, 16, 16)
    assert torch.allclose(source[:, source_channel], torch.ones(2, 16, 16))  # red, or blue
    assert torch.allclose(target[:, 2 - source_channel], torch.ones(2, 16, 16))


def test_crop_and_flip_are_shared_by_both_halves(tmp_path):
    write_side_by_side(tmp_path / "train", 4, size=32, same=True, suffix=".png")
    data = paired(tmp_path, image_size=24, load_size=40, flip=True)
    data.setup("fit")
    torch.manual_seed(0)
    for index in range(4):
        for _ in range(5):  # several random crops and flips of each pair
            source, target = data.train_set[index]
            assert source.shape == (3, 24, 24)
            assert torch.allclose(source, target, atol=1e-6)


def test_held_out_pairs_prefer_test_then_val_then_train(tmp_path):
    write_facades(tmp_path, train=4, test=2)
    data = paired(tmp_path)
    data.setup("fit")
    assert len(data.test_set) == 2 and data.test_set.images.files[0].parent.name == "test"
    inputs, targets = data.preview_batch(8)
    assert inputs.shape == targets.shape == (2, 3, 32, 32)
    batch = next(iter(data.test_loader(batch_size=2)))
    assert batch[0].shape == (2, 3, 32, 32)

    only_train = tmp_path / "only_train"
    write_side_by_side(only_train / "train", 3)
    fallback = paired(only_train)
    fallback.setup("fit")
    assert fallback.test_set.images.files[0].parent.name == "train"


def test_an_unreadable_test_folder_falls_back_to_val(tmp_path):
    write_facades(tmp_path, train=4, test=1)
    broken = next((tmp_path / "test").iterdir())
    broken.write_bytes(broken.read_bytes()[:300])  # a truncated download
    data = paired(tmp_path)
    data.setup("fit")
    assert data.test_set.images.files[0].parent.name == "val"
    inputs, _ = data.preview_batch(4)
    assert inputs.shape[0] == 1


def test_a_training_folder_of_unreadable_images_is_one_line(tmp_path):
    write_facades(tmp_path, train=2)
    for path in (tmp_path / "train").iterdir():
        path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(UserError, match="none of the 2 images in .*train/ could be decoded"):
        paired(tmp_path).setup("fit")


def test_grey_target_channels(tmp_path):
    write_facades(tmp_path, train=2)
    source, target = first_batch(paired(tmp_path, out_channels=1))
    assert source.shape[1] == 3 and target.shape[1] == 1


def test_an_image_that_is_not_two_halves_is_one_line(tmp_path):
    write_facades(tmp_path, train=3)
    Image.new("RGB", (50, 32)).save(tmp_path / "train" / "odd.jpg")
    with pytest.raises(UserError) as error:
        paired(tmp_path).setup("fit")
    message = str(error.value)
    assert "odd.jpg is 50x32" in message and "(width = 2 x height)" in message
    assert "\n" not in message


def test_missing_set_names_the_folder_and_the_archive(tmp_path):
    with pytest.raises(UserError, match="facades/train/ not found.*facades.tar.gz"):
        paired(tmp_path / "facades", archive="facades").validate()
    with pytest.raises(UserError, match="download needs data.archive"):
        paired(tmp_path / "mine", download=True).validate()


def test_too_few_pairs_for_the_batch(tmp_path):
    write_side_by_side(tmp_path / "train", 2)
    with pytest.raises(
        UserError, match="2 training pairs, fewer than batch_size=4; lower data.loader.batch_size"
    ):
        paired(tmp_path, batch_size=4).setup("fit")


def test_download_unpacks_the_archive_into_root(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    staged = tmp_path / "staged" / "facades"
    write_facades(staged, train=2, test=1)
    archive = tmp_path / "facades.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staged, arcname="facades")

    def download_url(url, root, filename):
        assert url.endswith("/pix2pix/datasets/facades.tar.gz")
        (tmp_path / "data" / filename).write_bytes(archive.read_bytes())

    monkeypatch.setattr(tv_utils, "download_url", download_url)
    data = paired(tmp_path / "data" / "facades", archive="facades", download=True)
    data.prepare_data()
    assert len(list((tmp_path / "data" / "facades" / "train").iterdir())) == 2
    assert not (tmp_path / "data" / "facades.tar.gz").exists()


def test_failed_download_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    def offline(url, root, filename):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(tv_utils, "download_url", offline)
    root = tmp_path / "data" / "facades"
    with pytest.raises(UserError, match="download of .*facades.tar.gz failed"):
        paired(root, archive="facades", download=True).prepare_data()
    assert list((tmp_path / "data").iterdir()) == []


# --- colorize ------------------------------------------------------------------------------------
def test_colorize_input_is_the_luma_of_the_target(tmp_path):
    write_faces(tmp_path / "faces", 20, size=(40, 50))
    data = ColorizeDataModule(
        str(tmp_path / "faces"), image_size=32, loader=LoaderOptions(batch_size=4)
    )
    grey, colour = first_batch(data)
    assert grey.shape == (4, 1, 32, 32) and colour.shape == (4, 3, 32, 32)
    assert torch.allclose(grey, to_grey(colour, 1), atol=1e-6)
    assert len(data.train_set) == 18 and len(data.test_set) == 2  # the last tenth held out
    held = [p.name for p in data.test_set.colour.files]
    assert held == ["000019.jpg", "000020.jpg"]


def test_colorize_grey_as_three_channels(tmp_path):
    write_faces(tmp_path / "faces", 10, size=(40, 50))
    data = ColorizeDataModule(
        str(tmp_path / "faces"), image_size=32, in_channels=3, loader=LoaderOptions(batch_size=2)
    )
    grey, _ = first_batch(data)
    assert grey.shape[1] == 3 and torch.equal(grey[:, 0], grey[:, 2])


def test_colorize_without_images_says_where_to_point(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="point data.image_dir at a folder of colour photos"):
        ColorizeDataModule(str(tmp_path / "empty")).validate()
    with pytest.raises(ValueError, match="out_channels must be 3"):
        ColorizeDataModule(str(tmp_path), out_channels=1)


# --- edges2digits --------------------------------------------------------------------------------
def test_outline_surrounds_the_strokes_and_is_dark_inside_them():
    digit = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    digit[..., 3:6, 3:6] = 255
    edges = outline(digit)
    assert edges[..., 3:6, 3:6].max() == 0  # inside the stroke
    assert edges[..., 2, 2:7].min() == 255 and edges[..., 6, 2:7].min() == 255  # the ring
    assert edges[..., 0, :].max() == 0  # far from the stroke


def test_edges2digits_from_idx_files(tmp_path):
    data_dir = write_mnist(tmp_path / "mnist", train=64, test=16)
    data = EdgesToDigitsDataModule(str(data_dir), loader=LoaderOptions(batch_size=8))
    edges, digits = first_batch(data)
    assert edges.shape == digits.shape == (8, 1, 32, 32)
    assert edges.min() >= -1 and digits.max() <= 1
    assert len(data.test_set) == 16  # MNIST's test split is held out
    held_edges, held_digits = next(iter(data.test_loader(batch_size=5)))
    assert held_edges.shape == (5, 1, 32, 32)
    assert not torch.equal(held_edges, held_digits)


def test_edges2digits_without_mnist_names_the_files(tmp_path):
    with pytest.raises(UserError, match="MNIST files not found .*train-images-idx3-ubyte"):
        EdgesToDigitsDataModule(str(tmp_path)).validate()
