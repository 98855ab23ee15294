"""``data.limit``: training on a fixed, seeded subset of N images, the same on every module."""

from __future__ import annotations

import inspect
import logging

import pytest
import torch

from gan_lightning.data import loading
from gan_lightning.data.captions import DigitCaptionsDataModule
from gan_lightning.data.celeba import CelebADataModule
from gan_lightning.data.derived_pairs import EdgesToDigitsDataModule
from gan_lightning.data.digits import DigitsDataModule
from gan_lightning.data.in_memory import InMemoryImageDataset
from gan_lightning.data.loading import LoaderOptions, subset_indices
from gan_lightning.data.mnist import MNISTDataModule
from gan_lightning.data.paired import PairedDataModule
from gan_lightning.data.unpaired import UnpairedDataModule
from gan_lightning.errors import UserError
from tests.conftest import REPO_ROOT, first_batch, write_facades, write_faces, write_unpaired

LOG = "gan_lightning.data.loading"


# --- the choice of the subset ---------------------------------------------------------------------
def test_the_subset_depends_on_size_limit_and_seed_only():
    torch.manual_seed(1)
    first = subset_indices(100, 10, seed=0)
    torch.manual_seed(2)  # the global seed plays no part
    assert torch.equal(subset_indices(100, 10, seed=0), first)
    # Pinned: a change here changes which images every limited run trains on.
    assert first.tolist() == [2, 32, 33, 41, 42, 43, 53, 88, 94, 95]
    assert not torch.equal(subset_indices(100, 10, seed=1), first)
    assert first.dtype == torch.int64 and first.unique().numel() == 10
    assert bool((first[1:] > first[:-1]).all())  # ascending: the set's own order is kept
    larger = set(subset_indices(100, 30, seed=0).tolist())
    assert set(first.tolist()) <= larger  # a smaller limit keeps a subset of a larger one
    assert subset_indices(7, 7, seed=3).tolist() == list(range(7))
    with pytest.raises(ValueError, match="limit must be in 1..5"):
        subset_indices(5, 6)


def test_arguments_are_checked_when_the_module_is_built():
    with pytest.raises(ValueError, match="^limit must be a positive number of images or null"):
        DigitsDataModule(limit=0)
    with pytest.raises(ValueError, match="limit_seed must be an integer"):
        DigitsDataModule(limit=5, limit_seed="a")


# --- in-memory sets -------------------------------------------------------------------------------
def digits(**kwargs) -> DigitsDataModule:
    return DigitsDataModule(loader=LoaderOptions(batch_size=8), **kwargs)


def test_digits_keep_exactly_the_chosen_images_and_say_so_once(caplog):
    whole = digits()
    whole.setup("fit")
    with caplog.at_level(logging.INFO, logger=LOG):
        limited = digits(limit=50)
        images, labels = first_batch(limited)
        limited.setup("fit")  # a second stage builds nothing again
    assert isinstance(limited.train_set, InMemoryImageDataset)  # the classifier metric reads it
    chosen = subset_indices(1797, 50, 0)
    assert torch.equal(limited.train_set.images, whole.train_set.images[chosen])
    assert torch.equal(limited.train_set.labels, whole.train_set.labels[chosen])
    assert images.shape == (8, 1, 8, 8) and labels.dtype == torch.long
    lines = [r.getMessage() for r in caplog.records if "fixed subset" in r.getMessage()]
    assert lines == [
        "training on a fixed subset of 50 of 1797 images (data.limit=50, data.limit_seed=0)"
    ]


def test_metrics_compare_with_the_whole_training_set_not_the_subset():
    limited, whole = digits(limit=50), digits()
    for data in (limited, whole):
        data.setup("fit")
    seen = torch.cat([images for images, _ in limited.reference_dataloader()])
    assert len(seen) == 1797 // 8 * 8  # all of it, in the training loader's whole batches
    assert sum(len(images) for images, _ in limited.train_dataloader()) == 48
    assert len(whole.reference_dataloader()) == len(whole.train_dataloader())


def test_same_subset_twice_another_for_another_seed():
    def kept(**kwargs):
        data = digits(**kwargs)
        data.setup("fit")
        return data.train_set.images

    assert torch.equal(kept(limit=40), kept(limit=40))
    assert not torch.equal(kept(limit=40), kept(limit=40, limit_seed=1))


def test_null_leaves_the_whole_set_and_logs_nothing(caplog):
    with caplog.at_level(logging.INFO, logger=LOG):
        data = digits(limit=None)
        data.setup("fit")
    assert len(data.train_set) == 1797 and "fixed subset" not in caplog.text
    plain = digits()
    plain.setup("fit")
    assert torch.equal(data.train_set.images, plain.train_set.images)


def test_other_ranks_take_the_same_subset_without_logging(caplog, monkeypatch):
    rank0 = digits(limit=30)
    rank0.setup("fit")
    monkeypatch.setattr(loading.rank_zero_only, "rank", 1)
    with caplog.at_level(logging.INFO, logger=LOG):
        rank1 = digits(limit=30)
        rank1.setup("fit")
    assert torch.equal(rank0.train_set.images, rank1.train_set.images)
    assert "fixed subset" not in caplog.text


def test_a_limit_larger_than_the_set_or_smaller_than_a_batch_is_one_line():
    with pytest.raises(UserError) as info:
        digits(limit=2000).setup("fit")
    assert str(info.value) == (
        "data.limit=2000 is more than the 1797 training images; lower data.limit, or set "
        "data.limit=null to train on all of them"
    )
    with pytest.raises(UserError, match=r"data.limit=4 is fewer images than batch_size=8"):
        digits(limit=4).setup("fit")


def test_mnist(mnist_root):
    whole = MNISTDataModule(str(mnist_root))
    whole.setup("fit")
    data = MNISTDataModule(str(mnist_root), limit=100, limit_seed=3, loader={"batch_size": 10})
    first_batch(data)
    assert len(data.train_set) == 100 and len(list(data.train_dataloader())) == 10
    assert torch.equal(data.train_set.images, whole.train_set.images[subset_indices(256, 100, 3)])


def test_derived_pairs_limit_the_training_pairs_only(mnist_root, caplog):
    with caplog.at_level(logging.INFO, logger=LOG):
        data = EdgesToDigitsDataModule(str(mnist_root), limit=20, loader={"batch_size": 4})
        inputs, targets = first_batch(data)
    assert len(data.train_set) == 20 and len(data.test_set) == 64  # held-out pairs: all
    assert inputs.shape == targets.shape == (4, 1, 32, 32)
    assert "fixed subset of 20 of 256 pairs" in caplog.text


def test_captioned_digits_keep_each_image_with_its_captions(mnist_root):
    make = dict(data_dir=str(mnist_root), image_size=16, loader={"batch_size": 8})
    whole = DigitCaptionsDataModule(**make)
    whole.setup("fit")
    data = DigitCaptionsDataModule(**make, limit=24)
    images, text, lengths, labels = first_batch(data)
    chosen = subset_indices(256, 24, 0)
    assert len(data.train_set) == 24 and images.shape == (8, 1, 16, 16) and text.shape[0] == 8
    assert torch.equal(data.train_set.labels, whole.train_set.labels[chosen])
    assert data.train_set.captions == [whole.train_set.captions[i] for i in chosen.tolist()]


# --- folders --------------------------------------------------------------------------------------
def test_image_folder_keeps_the_chosen_files(tmp_path, caplog):
    folder = tmp_path / "celeba" / "img_align_celeba"
    write_faces(folder, 12, size=(40, 48))
    make = dict(data_dir=str(tmp_path), image_size=16, crop_size=40, loader={"batch_size": 3})
    with caplog.at_level(logging.INFO, logger=LOG):
        data = CelebADataModule(**make, limit=6, limit_seed=5)
        images, _ = first_batch(data)
    again = CelebADataModule(**make, limit=6, limit_seed=5)
    again.setup("fit")
    other = CelebADataModule(**make, limit=6, limit_seed=6)
    other.setup("fit")

    def names(module):
        subset = module.train_set
        return [subset.dataset.files[i].name for i in subset.indices]

    expected = [f"{i + 1:06d}.jpg" for i in subset_indices(12, 6, 5).tolist()]
    assert names(data) == names(again) == expected and names(other) != expected
    assert images.shape == (3, 3, 16, 16) and images.min() >= -1 and images.max() <= 1
    assert len(list(data.train_dataloader())) == 2  # 6 images, batches of 3
    assert "fixed subset of 6 of 12 images (data.limit=6, data.limit_seed=5)" in caplog.text


def test_unpaired_limits_each_domain(tmp_path, caplog):
    root = write_unpaired(tmp_path / "set", a=6, b=4)
    make = dict(image_size=16, load_size=18, loader=LoaderOptions(batch_size=2))
    with caplog.at_level(logging.INFO, logger=LOG):
        data = UnpairedDataModule(str(root), limit=3, **make)
        a, b = first_batch(data)
    assert a.shape == b.shape == (2, 3, 16, 16)
    domains = data.train_set.domain_a, data.train_set.domain_b
    assert [len(d) for d in domains] == [3, 3] and len(data.train_set) == 3
    assert domains[0].indices == subset_indices(6, 3, 0).tolist()
    assert domains[1].indices == subset_indices(4, 3, 0).tolist()
    assert "fixed subset of 3 of 6 images of domain A (trainA/)" in caplog.text
    assert "fixed subset of 3 of 4 images of domain B (trainB/)" in caplog.text
    assert len(data.test_sets["A"]) == 2  # held-out images are not limited
    with pytest.raises(UserError, match=r"data.limit=5 is more than the 4 training images of do"):
        UnpairedDataModule(str(root), limit=5, **make).setup("fit")


def test_paired_limits_the_pairs(tmp_path):
    root = write_facades(tmp_path / "facades", train=6, test=2)
    data = PairedDataModule(
        str(root), image_size=16, load_size=18, limit=4, loader={"batch_size": 2}
    )
    inputs, targets = first_batch(data)
    assert len(data.train_set) == 4 and data.train_set.indices == subset_indices(6, 4).tolist()
    assert inputs.shape == targets.shape == (2, 3, 16, 16) and len(data.test_set) == 2


# --- configuration --------------------------------------------------------------------------------
IMAGE_DATA = sorted(
    path.stem
    for path in (REPO_ROOT / "conf" / "data").glob("*.yaml")
    if path.stem not in ("ring", "grid")  # the 2-D mixtures: num_samples sets their size
)


def test_every_image_data_config_takes_limit_and_limit_seed():
    from hydra import compose, initialize_config_module
    from hydra.utils import get_object

    assert {"cifar10", "mnist", "svhn", "celeba", "unpaired", "paired", "digits"} <= set(IMAGE_DATA)
    with initialize_config_module("gan_lightning.conf", version_base="1.3"):
        for name in IMAGE_DATA:
            cfg = compose("train", overrides=[f"data={name}", "data.limit=10"])
            assert cfg.data.limit == 10 and cfg.data.limit_seed == 0, name
            parameters = inspect.signature(get_object(cfg.data._target_)).parameters
            assert parameters["limit"].default is None, name
            assert parameters["limit_seed"].default == 0, name
