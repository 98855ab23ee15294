"""Fidelity and diversity as two numbers each, from k-nearest-neighbour balls in feature space.

Around every feature vector X_i of a set lies the ball B(X_i, NND_k(X_i)) whose radius is the
distance to its k-th nearest neighbour in the same set (the point itself excluded); the union
of the balls estimates the set's manifold. With N real features X and M fake features Y:

* improved precision and recall (Kynkäänniemi et al. 2019, k = 3): precision is the share of
  fakes inside the real manifold (fidelity), recall the share of reals inside the fake manifold
  (diversity);
* density and coverage (Naeem et al. 2020, k = 5), on the real balls only, so outlying fakes
  cannot inflate them: density = 1/(kM) sum_j #{i: Y_j in B(X_i, NND_k(X_i))} (about 1 when
  the fakes follow the real distribution, above 1 where they crowd around real points);
  coverage = the share of real balls holding at least one fake.

The features come from the metrics that already extract them (``FeatureDistance``); the
distances are computed on the CPU with ``torch.cdist``, a block of rows at a time, so two sets
of 10,000 never hold their 10,000 x 10,000 distance matrix at once (one CPU thread: about 7 s
for 10,000 against 10,000 in 128 dimensions, 50 s in Inception's 2,048; a few hundred MB).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

PRECISION_K = 3  # Kynkäänniemi et al. 2019
DENSITY_K = 5  # Naeem et al. 2020
BLOCK_ELEMENTS = 2**22  # distances held at once: 16 MB in float32

NAMES = ("precision", "recall", "density", "coverage")


def row_blocks(rows: Tensor, columns: int) -> Iterator[tuple[int, Tensor]]:
    """(first row, rows) in blocks of at most ``BLOCK_ELEMENTS / columns`` rows."""
    size = max(1, BLOCK_ELEMENTS // max(1, columns))
    for start in range(0, rows.shape[0], size):
        yield start, rows[start : start + size]


def nearest_to(points: Tensor, others: Tensor) -> Tensor:
    """(N,): each row of ``points``' distance to its nearest row of ``others``."""
    return torch.cat(
        [torch.cdist(block, others).min(1).values for _, block in row_blocks(points, len(others))]
    )


def _as_features(features: Tensor, what: str) -> Tensor:
    if features.dim() != 2:
        raise ValueError(
            f"{what} features must be (samples, features), got {tuple(features.shape)}"
        )
    return features.cpu() if features.is_floating_point() else features.cpu().float()


def nearest_distances(features: Tensor, k: int) -> Tensor:
    """(N, k): each row's distances to its k nearest other rows, nearest first."""
    features = _as_features(features, "the")
    n = features.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"the k-th nearest neighbour (k={k}) needs more than {k} samples, got {n}")
    parts = []
    for start, block in row_blocks(features, n):
        distances = torch.cdist(block, features)
        rows = torch.arange(block.shape[0])
        distances[rows, rows + start] = math.inf  # the point itself is no neighbour
        parts.append(distances.topk(k, dim=1, largest=False).values)
    return torch.cat(parts)


@torch.no_grad()
def fidelity_diversity(
    real: Tensor,
    fake: Tensor,
    precision_k: int = PRECISION_K,
    density_k: int = DENSITY_K,
    real_distances: Tensor | None = None,
) -> dict[str, float]:
    """``precision``, ``recall``, ``density`` and ``coverage`` of (M, F) fakes against (N, F)
    reals. ``real_distances``: ``nearest_distances(real, k)`` for k >= both k's, when the
    caller keeps it (the real set's balls do not change between evaluations)."""
    real, fake = _as_features(real, "real"), _as_features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real features have {real.shape[1]} dimensions, fake {fake.shape[1]}")
    dtype = torch.promote_types(real.dtype, fake.dtype)
    real, fake = real.to(dtype), fake.to(dtype)
    k = max(precision_k, density_k)
    if real_distances is None or real_distances.shape[1] < k:
        real_distances = nearest_distances(real, k)
    real_precision = real_distances[:, precision_k - 1].to(dtype)
    real_density = real_distances[:, density_k - 1].to(dtype)
    fake_radii = nearest_distances(fake, precision_k)[:, -1].to(dtype)
    in_real = 0  # fakes inside the real manifold (precision)
    in_balls = 0  # (fake, real ball) pairs with the fake inside (density)
    real_in_fake = torch.zeros(real.shape[0], dtype=torch.bool)  # recall
    covered = torch.zeros(real.shape[0], dtype=torch.bool)  # coverage
    for start, block in row_blocks(fake, real.shape[0]):
        distances = torch.cdist(block, real)  # (block, N)
        in_real += int((distances <= real_precision).any(1).sum())
        inside = distances <= real_density
        in_balls += int(inside.sum())
        covered |= inside.any(0)
        real_in_fake |= (distances <= fake_radii[start : start + block.shape[0], None]).any(0)
    m = fake.shape[0]
    return {
        "precision": in_real / m,
        "recall": float(real_in_fake.double().mean()),
        "density": in_balls / (density_k * m),
        "coverage": float(covered.double().mean()),
    }
