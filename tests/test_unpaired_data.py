"""Unpaired folder data (CycleGAN layout), written as real jpg/png folders by the tests."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from gan_lightning.data.loading import LoaderOptions
from gan_lightning.data.unpaired import UnpairedDataModule, UnpairedDataset
from gan_lightning.errors import UserError
from tests.conftest import first_batch, write_domain, write_unpaired


def make(root: Path, batch_size: int = 2, **kwargs) -> UnpairedDataModule:
    defaults = dict(image_size=16, load_size=20, loader=LoaderOptions(batch_size=batch_size))
    return UnpairedDataModule(str(root), **{**defaults, **kwargs})


def test_batches_pair_two_domains_in_signed_unit_range(tmp_path):
    datamodule = make(write_unpaired(tmp_path / "set"))
    a, b = first_batch(datamodule)
    assert a.shape == b.shape == (2, 3, 16, 16)
    for images in (a, b):
        assert images.min() >= -1 and images.max() <= 1 and images.max() > 0.9
    assert len(datamodule.train_set) == 6  # the larger domain sets the epoch


def test_the_smaller_domain_is_drawn_at_random_each_time():
    domain_a = [(np.float32(i), -1) for i in range(3)]
    domain_b = [(np.float32(10 + i), -1) for i in range(5)]
    dataset = UnpairedDataset(domain_a, domain_b)
    assert len(dataset) == 5
    assert [dataset[i][0] for i in range(5)] == [0, 1, 2, 0, 1]  # A cycles in order
    partners = {float(dataset[0][1]) for _ in range(60)}
    assert len(partners) == 5  # B's partner is independent of the index


def test_grey_and_rgba_images_are_converted_and_bad_files_skipped(tmp_path, caplog):
    root = write_unpaired(tmp_path / "set", test=False)
    write_domain(root / "trainB", 2, mode="L", suffix=".png", seed=5)  # overwrites 0000, 0001
    write_domain(root / "trainB", 1, mode="RGBA", suffix=".png", seed=6, prefix="alpha")
    (root / "trainA" / "notes.txt").write_text("not an image")
    (root / "trainA" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    datamodule = make(root, channels=3)
    with caplog.at_level(logging.INFO):
        a, b = first_batch(datamodule)
    assert b.shape[1] == 3
    text = caplog.text
    assert "skipped 1 unreadable image(s)" in text and "broken.jpg" in text
    assert "converting 3 image(s)" in text and "1 RGBA" in text  # 2 grey + 1 RGBA in trainB
    assert len(datamodule.train_set.domain_a) == 6 and len(datamodule.train_set.domain_b) == 5
    grey = make(root, channels=1)
    assert first_batch(grey)[0].shape[1] == 1


def test_previews_come_from_the_test_folders_else_from_training(tmp_path):
    datamodule = make(write_unpaired(tmp_path / "with"))
    datamodule.setup("fit")
    a, b = datamodule.preview_batch(4)
    assert a.shape == (2, 3, 16, 16) and b.shape == (3, 3, 16, 16)  # testA has 2, testB 3
    without = make(write_unpaired(tmp_path / "without", test=False))
    without.setup("fit")
    assert without.preview_batch(4)[0].shape[0] == 4


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no_trainB", "trainB/ not found"),
        ("empty_trainA", "domain A is empty"),
        ("only_junk", "domain A is empty"),
        ("all_broken", "could be decoded"),
    ],
)
def test_missing_or_empty_domains_fail_before_training(tmp_path, damage, message):
    root = write_unpaired(tmp_path / "set", test=False)
    folder = root / ("trainB" if damage == "no_trainB" else "trainA")
    for path in folder.iterdir():
        path.unlink()
    if damage == "no_trainB":
        folder.rmdir()
    elif damage == "only_junk":
        (folder / "readme.txt").write_text("x")
    elif damage == "all_broken":
        (folder / "0000.jpg").write_bytes(b"not a jpeg")
    datamodule = make(root)
    with pytest.raises(UserError, match=message):
        datamodule.prepare_data()
        datamodule.setup("fit")


def test_offline_message_names_the_folders_and_the_archive(tmp_path):
    datamodule = make(tmp_path / "summer2winter_yosemite", archive="summer2winter_yosemite")
    with pytest.raises(UserError) as error:
        datamodule.validate()
    text = str(error.value)
    assert "summer2winter_yosemite/trainA/ not found" in text
    assert "summer2winter_yosemite.zip" in text and "data.download=true" in text


def test_download_without_archive_name_is_refused(tmp_path):
    with pytest.raises(UserError, match="data.download needs data.archive"):
        make(tmp_path / "mine", download=True).validate()


def test_bad_arguments():
    with pytest.raises(ValueError, match="load_size"):
        UnpairedDataModule("x", image_size=64, load_size=32)
    with pytest.raises(ValueError, match="archive must be one of"):
        UnpairedDataModule("x", archive="cats2dogs")


def test_shared_mnist2negative_sample_loads(shared_data):
    datamodule = make(shared_data / "mnist2negative", channels=1, image_size=64, load_size=72)
    a, b = first_batch(datamodule)
    assert a.shape == (2, 1, 64, 64)
    assert a.mean() < 0 < b.mean()  # A: white digits on black; B: inverted
    assert len(datamodule.test_sets["A"]) == 100


def _fake_download(archive_source: Path | None):
    """Stands in for torchvision's download_url: copies a local zip, or fails like no network."""

    def download_url(url, root, filename):
        assert url == "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip"
        if archive_source is None:
            raise OSError("network is unreachable")
        (Path(root) / filename).write_bytes(archive_source.read_bytes())

    return download_url


def test_download_unpacks_the_archive_into_root(tmp_path, monkeypatch):
    import shutil

    import torchvision.datasets.utils

    staged = write_unpaired(tmp_path / "staging" / "horse2zebra")
    archive = Path(shutil.make_archive(str(tmp_path / "horse2zebra"), "zip", staged.parent))
    monkeypatch.setattr(torchvision.datasets.utils, "download_url", _fake_download(archive))
    root = tmp_path / "data" / "horse2zebra"
    datamodule = make(root, archive="horse2zebra", download=True)
    datamodule.prepare_data()
    assert sorted(p.name for p in root.iterdir()) == ["testA", "testB", "trainA", "trainB"]
    assert not (tmp_path / "data" / "horse2zebra.zip").exists()
    assert first_batch(datamodule)[0].shape == (2, 3, 16, 16)


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    import torchvision.datasets.utils

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", _fake_download(None))
    root = tmp_path / "data" / "horse2zebra"
    with pytest.raises(UserError, match=r"download of http://\S+horse2zebra.zip failed"):
        make(root, archive="horse2zebra", download=True).prepare_data()
    assert list((tmp_path / "data").iterdir()) == []


def test_download_into_a_partial_folder_is_refused(tmp_path):
    root = tmp_path / "data" / "horse2zebra"
    write_domain(root / "trainA", 2)  # trainB missing
    with pytest.raises(UserError, match="exists but is incomplete; move it away"):
        make(root, archive="horse2zebra", download=True).prepare_data()
    assert sorted(p.name for p in root.iterdir()) == ["trainA"]
