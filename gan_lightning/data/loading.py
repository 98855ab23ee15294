"""What every data module shares: the loader options (``data.loader``), argument checks, the
DataLoaders, the fixed training subset of ``data.limit``, and the base classes that hold them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.rank_zero import rank_zero_only
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset
from torchdata.stateful_dataloader import StatefulDataLoader

from gan_lightning.data.shuffle import EpochShuffle, loader_generator, run_seed
from gan_lightning.errors import UserError
from gan_lightning.sizes import PositiveInt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoaderOptions:
    """How batches are loaded, one object for every data module (``data.loader.*``).

    ``pin_memory`` None pins only when there is an accelerator: pinned host memory speeds the copy
    to a GPU, and on a CPU-only machine PyTorch ignores it with a warning.
    """

    batch_size: PositiveInt = 64
    num_workers: int = 0
    pin_memory: bool | None = None

    def __post_init__(self) -> None:
        # ValueError naming the field, so the CLI reports ``data: <message>`` as one line.
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")

    @property
    def should_pin(self) -> bool:
        """``pin_memory`` with None resolved for this machine."""
        return torch.cuda.is_available() if self.pin_memory is None else self.pin_memory


# A data module's ``loader``: the options (Hydra builds them from data/loader/*.yaml), a dict
# of the fields that differ from the module's defaults (Python callers), or None for those.
LoaderArg = LoaderOptions | Mapping[str, Any] | None


def as_loader_options(loader: LoaderArg, default: LoaderOptions) -> LoaderOptions:
    if loader is None:
        return default
    if isinstance(loader, LoaderOptions):
        return loader
    if isinstance(loader, Mapping):
        return dataclasses.replace(default, **loader)
    raise TypeError(f"loader must be LoaderOptions, a dict or None, got {type(loader).__name__}")


def check_image_args(image_size: int, channels: int) -> None:
    """ValueError naming the argument, so the CLI reports ``data: <message>`` as one line."""
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")


def resolve_load_size(image_size: int, load_size: int | None) -> int:
    """The size resized to before a random crop to ``image_size``; null: the pix2pix /
    CycleGAN ratio, 286 for 256."""
    if load_size is None:
        load_size = round(image_size * 286 / 256)
    if load_size < image_size:
        raise ValueError(f"load_size ({load_size}) must be >= image_size ({image_size})")
    return load_size


def check_limit_args(limit: int | None, limit_seed: int) -> None:
    """ValueError naming the argument, so the CLI reports ``data: <message>`` as one line."""
    if limit is not None and (isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit must be a positive number of images or null, got {limit}")
    if isinstance(limit_seed, bool) or not isinstance(limit_seed, int):
        raise ValueError(f"limit_seed must be an integer, got {limit_seed!r}")


_MASK64 = (1 << 64) - 1
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array (wrapping arithmetic): a bijection."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def subset_indices(total: int, limit: int, seed: int = 0) -> Tensor:
    """The ``limit`` indices of ``range(total)`` that ``data.limit`` keeps, ascending.

    Each index gets a key, splitmix64 of (``seed``, index), and the ``limit`` smallest keys are
    kept. The subset depends on ``(total, limit, seed)`` only: not on the global seed, the DDP
    rank or the numpy / torch version (no library random stream is used); a smaller limit keeps
    a subset of a larger one's images, and ``limit == total`` keeps the whole set in its order.
    """
    if not 1 <= limit <= total:
        raise ValueError(f"limit must be in 1..{total}, got {limit}")
    base = _splitmix64(np.array([seed & _MASK64], dtype=np.uint64))
    states = base + (np.arange(1, total + 1, dtype=np.uint64) * np.uint64(_GOLDEN_GAMMA))
    keys = _splitmix64(states)
    kept = np.argpartition(keys, limit - 1)[:limit] if limit < total else np.arange(total)
    return torch.from_numpy(np.sort(kept).astype(np.int64))


D = TypeVar("D", bound=Dataset)


def take_subset(dataset: D, indices: Tensor) -> D | Subset:
    """``dataset`` reduced to ``indices``: through its own ``subset`` method where it has one
    (the in-memory sets keep their type and tensors), else as a ``torch.utils.data.Subset``."""
    if hasattr(dataset, "subset"):
        return dataset.subset(indices)
    return Subset(dataset, indices.tolist())


def keep_batch(batch: Any) -> Any:
    """The collate function of batched data sets: ``__getitems__`` already made the batch."""
    return batch


def collate_for(dataset: Dataset) -> Any:
    """``keep_batch`` for the in-memory sets, whose ``__getitems__`` makes a whole batch in one
    indexing; the default collation (None) for sets that decode one item at a time. A ``Subset``
    always has ``__getitems__``: it returns its set's batch, or a list of items to collate."""
    inner = dataset.dataset if isinstance(dataset, Subset) else dataset
    return keep_batch if hasattr(inner, "__getitems__") else None


def train_loader(
    dataset: Dataset, loader: LoaderOptions, trainer: pl.Trainer | None = None
) -> StatefulDataLoader:
    """Shuffled, equal-sized batches (this rank's share under DDP), from a loader whose position
    Lightning saves with each checkpoint, so a run resumes at the batch it stopped."""
    seed = run_seed(trainer)
    return StatefulDataLoader(
        dataset,
        batch_size=loader.batch_size,
        sampler=EpochShuffle(dataset, trainer, seed),
        generator=loader_generator(seed),
        drop_last=True,  # equal batches keep BatchNorm and packed discriminators well-posed
        num_workers=loader.num_workers,
        pin_memory=loader.should_pin,
        persistent_workers=loader.num_workers > 0,
        collate_fn=collate_for(dataset),
    )


@rank_zero_only
def warn_inexact_resume(data_module: str, workers: int) -> None:
    log.warning(
        "resuming with data.loader.num_workers=%d: %s draws random crops, flips or partners in "
        "the worker processes, whose random streams start again at a resume, so the resumed "
        "run is not bit-exact (it is with data.loader.num_workers=0)",
        workers,
        data_module,
    )


def held_out_loader(dataset: Dataset, batch_size: int, loader: LoaderOptions) -> DataLoader:
    """A held-out set in a fixed order. Read in this process: workers would start again for
    every evaluation, and held-out sets are small."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        pin_memory=loader.should_pin,
        collate_fn=collate_for(dataset),
    )


class LoaderDataModule(pl.LightningDataModule):
    """Base of the data modules: the loader options and the training loader over ``train_set``.

    Subclasses build their data sets once in ``build`` (Lightning calls ``setup`` per stage) and
    set ``default_loader`` to what suits them when ``loader`` is not given.
    """

    default_loader: ClassVar[LoaderOptions] = LoaderOptions()
    # whether fetching a training item draws random numbers (a crop, a flip, a partner, a
    # caption): in worker processes those streams restart at resume
    fetch_draws_random: ClassVar[bool] = False

    def __init__(self, loader: LoaderArg = None) -> None:
        super().__init__()
        self.loader = as_loader_options(loader, self.default_loader)
        self.train_set: Dataset | None = None

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:  # Lightning's batch-size finder sets it
        self.loader = dataclasses.replace(self.loader, batch_size=value)

    @property
    def num_workers(self) -> int:
        return self.loader.num_workers

    @property
    def pin_memory(self) -> bool:
        return self.loader.should_pin

    def build(self) -> None:
        """Set ``train_set`` (and any held-out sets)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.build()

    def check_fills_a_batch(self, count: int, holds: str) -> None:
        """UserError when ``count`` training items (``holds``: "<where> has <count> images") make
        no whole batch: the loader drops the last partial batch, so nothing would train."""
        if count < self.batch_size:
            raise UserError(
                f"{holds}, fewer than batch_size={self.batch_size}; lower data.loader.batch_size"
            )

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup() first"
        if (
            self.fetch_draws_random
            and self.num_workers > 0
            and self.trainer
            and self.trainer.ckpt_path
        ):
            warn_inexact_resume(type(self).__name__, self.num_workers)
        return train_loader(self.train_set, self.loader, self.trainer)


class ImageDataModule(LoaderDataModule):
    """Square images: ``image_size`` and ``channels`` are what the model sees.

    ``limit`` (``data.limit``): train on a fixed subset of that many training images (pairs for
    the paired sets, images per domain for the unpaired ones), chosen by ``limit_seed`` through
    :func:`subset_indices`; null trains on the whole set. Subclasses pass their training set
    through :meth:`limited`; held-out sets (previews, scores) are never limited.
    """

    def __init__(
        self,
        image_size: PositiveInt,
        channels: PositiveInt,
        loader: LoaderArg = None,
        limit: PositiveInt | None = None,
        limit_seed: int = 0,
    ) -> None:
        super().__init__(loader)
        check_image_args(image_size, channels)
        check_limit_args(limit, limit_seed)
        self.image_size = image_size
        self.channels = channels
        self.limit = limit
        self.limit_seed = limit_seed
        self.whole_sets: dict[str, Dataset] = {}  # what -> the set before data.limit

    def reference_dataloader(self) -> DataLoader:
        """The real images metrics compare samples with: the whole training set, also when
        ``data.limit`` trains on a subset (a generator that only copies its 100 training images
        should not score as if it had learnt the data)."""
        whole = self.whole_sets.get("images")
        return train_loader(whole, self.loader) if whole is not None else self.train_dataloader()

    def limited(self, dataset: D, what: str = "images") -> D | Subset:
        """``dataset`` itself when ``limit`` is null, else its fixed subset of ``limit`` items,
        stated once in the log. ``what`` names the items in the messages ("images", "pairs",
        "images of domain A"). UserError when the set holds fewer than ``limit`` items, or when
        ``limit`` makes no whole batch."""
        if self.limit is None:
            return dataset
        self.whole_sets[what] = dataset
        total = len(dataset)
        if self.limit > total:
            raise UserError(
                f"data.limit={self.limit} is more than the {total} training {what}; lower "
                "data.limit, or set data.limit=null to train on all of them"
            )
        if self.limit < self.batch_size:
            raise UserError(
                f"data.limit={self.limit} is fewer {what} than batch_size={self.batch_size}; "
                "raise data.limit or lower data.loader.batch_size"
            )
        if rank_zero_only.rank == 0:
            log.info(
                "training on a fixed subset of %d of %d %s (data.limit=%d, data.limit_seed=%d)",
                self.limit,
                total,
                what,
                self.limit,
                self.limit_seed,
            )
        return take_subset(dataset, subset_indices(total, self.limit, self.limit_seed))


class DownloadableData:
    """``validate`` / ``prepare_data`` of a set that ``download=true`` fetches when missing.

    Subclasses implement ``_problem`` (what is missing, in one line, or None) and ``_download``.
    """

    download: bool

    def _problem(self) -> str | None:
        raise NotImplementedError

    def _download(self) -> None:
        raise NotImplementedError

    def _download_refused(self) -> str | None:
        """None when ``_download`` may run; else what to add to the problem ("" when
        ``download`` is off)."""
        return None if self.download else ""

    def validate(self) -> None:
        """Fail before training starts when the set is missing and cannot be downloaded."""
        problem = self._problem()
        refused = self._download_refused() if problem else None
        if problem and refused is not None:
            raise UserError(problem + refused)

    def prepare_data(self) -> None:
        if self._problem() and self._download_refused() is None:
            self._download()
        self.validate()

    def require_present(self) -> None:
        """At set-up: the set must be there by now (``prepare_data`` ran on rank 0 only)."""
        problem = self._problem()
        if problem:
            raise UserError(problem)


def stack_items(dataset: Dataset, n: int) -> tuple[Tensor, ...]:
    """The first ``n`` items of ``dataset`` (fewer when it is shorter), field by field stacked:
    the fixed inputs of the sample grids."""
    items = [dataset[i] for i in range(min(n, len(dataset)))]
    return tuple(torch.stack(field) for field in zip(*items, strict=True))
