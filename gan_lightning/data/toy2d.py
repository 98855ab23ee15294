"""2-D Gaussian mixtures of the mode-collapse literature (PacGAN, VEEGAN, Unrolled GAN).

``ring``: 8 Gaussians at angles 2*pi*k/8 (k = 0..7) on a circle of radius 1, std 0.01.
``grid``: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05.
Batches are ``(points, mode index)``, so the same modules and metrics as for images apply.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor
from torch.utils.data import Dataset

from gan_lightning.data.loading import LoaderArg, LoaderDataModule, LoaderOptions
from gan_lightning.sizes import PositiveInt

MIXTURES = {"ring": 0.01, "grid": 0.05}  # name -> the papers' standard deviation


def mixture_centers(mixture: str, radius: float = 1.0) -> Tensor:
    """The (K, 2) mode centres of a named mixture."""
    if mixture == "ring":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return (torch.stack([angles.cos(), angles.sin()], dim=1) * radius).float()
    if mixture == "grid":
        steps = [-4.0, -2.0, 0.0, 2.0, 4.0]
        return torch.tensor(list(itertools.product(steps, steps)))
    raise ValueError(f"mixture must be one of {', '.join(MIXTURES)}, got {mixture!r}")


def sample_mixture(
    centers: Tensor, std: float, n: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``n`` points drawn with equal mode probabilities, and the mode each came from."""
    modes = torch.randint(0, centers.shape[0], (n,), generator=generator)
    noise = torch.randn(n, centers.shape[1], generator=generator) * std
    return centers[modes] + noise, modes


class _BatchIndexed(Dataset):
    """Fetches a whole batch in one tensor slice instead of one call per point."""

    def __init__(self, points: Tensor, modes: Tensor) -> None:
        self.points, self.modes = points, modes

    def __len__(self) -> int:
        return self.points.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.points[index], self.modes[index]

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        return self.points[indices], self.modes[indices]


class GaussianMixtureDataModule(LoaderDataModule):
    """A fixed training set of ``num_samples`` points (100,000 in PacGAN), drawn from ``seed``.

    ``std`` null takes the papers' value for the mixture. ``num_classes`` stays null: the mode
    index is bookkeeping for metrics, not a label to condition on.
    """

    data_kind = "points"
    default_loader = LoaderOptions(batch_size=100)

    def __init__(
        self,
        mixture: str = "ring",
        std: float | None = None,
        radius: float = 1.0,
        num_samples: PositiveInt = 100_000,
        seed: int = 0,
        num_classes: PositiveInt | None = None,
        loader: LoaderArg = None,
    ) -> None:
        super().__init__(loader)
        self.centers = mixture_centers(mixture, radius)
        if std is not None and std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        if num_samples < self.batch_size:
            raise ValueError(
                f"need 1 <= batch_size <= num_samples, got batch_size={self.batch_size}, "
                f"num_samples={num_samples}"
            )
        if num_classes is not None:
            raise ValueError("num_classes must be null: the 2-D mixtures have no class labels")
        self.mixture = mixture
        self.std = MIXTURES[mixture] if std is None else std
        self.num_samples = num_samples
        self.seed = seed
        self.num_classes = num_classes
        self.train_set: _BatchIndexed | None = None

    def sample(self, n: int, seed: int | None = None) -> tuple[Tensor, Tensor]:
        generator = torch.Generator().manual_seed(self.seed if seed is None else seed)
        return sample_mixture(self.centers, self.std, n, generator)

    def build(self) -> None:
        self.train_set = _BatchIndexed(*self.sample(self.num_samples))
