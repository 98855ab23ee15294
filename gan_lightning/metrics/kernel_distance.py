"""KID (Binkowski et al. 2018): the unbiased MMD^2 of a cubic polynomial kernel, averaged over
random subsets of the real and generated features.

The estimate is torchmetrics' ``KernelInceptionDistance`` (degree 3, gamma 1/F, coef 1), with
the subsets drawn as it draws them, so a seed gives the same subsets. What differs is the
arithmetic: where the kernel matrices of the whole sets fit in memory, they are computed once
and every subset's sums are read from them with one matrix product, instead of three
subset-sized kernels per subset, which is where an evaluation after every epoch spent most of
its time.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.image.kid import poly_mmd

# entries of the three whole-set kernel matrices (float64) above which each subset gets its
# own kernels instead: 3e7 entries are 240 MB
WHOLE_SET_ENTRIES = 30_000_000


def polynomial_kernel(a: Tensor, b: Tensor) -> Tensor:
    """torchmetrics' KID kernel: degree 3, gamma 1/F, coef 1."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kernel_distance(
    real: Tensor, fake: Tensor, subsets: int, subset_size: int
) -> tuple[float, float]:
    """Mean and population standard deviation of MMD^2 over ``subsets`` subsets of
    ``subset_size`` real and generated feature vectors, drawn from the global random stream."""
    n_real, n_fake = real.shape[0], fake.shape[0]
    if min(n_real, n_fake) < subset_size:
        raise ValueError(
            f"subset_size={subset_size} is more than the {min(n_real, n_fake)} samples of a set"
        )
    # one dtype for both: real features can come cached in float64, generated ones in float32
    dtype = torch.promote_types(real.dtype, fake.dtype)
    real, fake = real.to(dtype), fake.to(dtype)
    draws = [  # torchmetrics' order: a real subset, then a generated one
        (torch.randperm(n_real)[:subset_size], torch.randperm(n_fake)[:subset_size])
        for _ in range(subsets)
    ]
    if n_real * n_real + n_fake * n_fake + n_real * n_fake <= WHOLE_SET_ENTRIES:
        # in float64: each sum adds up to millions of kernel values
        values = _from_whole_set_kernels(real.double(), fake.double(), draws, subset_size)
    else:  # torchmetrics' own per-subset estimate
        values = torch.stack([poly_mmd(real[r], fake[f]) for r, f in draws])
    return float(values.mean()), float(values.std(unbiased=False))


def _from_whole_set_kernels(
    real: Tensor, fake: Tensor, draws: list[tuple[Tensor, Tensor]], m: int
) -> Tensor:
    """Each subset's kernel sums as w_a' K w_b, with w the subset's 0/1 indicator vector."""
    in_real = real.new_zeros(real.shape[0], len(draws))
    in_fake = fake.new_zeros(fake.shape[0], len(draws))
    for column, (r, f) in enumerate(draws):
        in_real[r, column] = 1.0
        in_fake[f, column] = 1.0

    def within(a: Tensor, in_a: Tensor) -> Tensor:  # the sums without k(x, x)
        kernel = polynomial_kernel(a, a)
        return (in_a * (kernel @ in_a)).sum(0) - kernel.diagonal() @ in_a

    across = (in_real * (polynomial_kernel(real, fake) @ in_fake)).sum(0)
    return (within(real, in_real) + within(fake, in_fake)) / (m * (m - 1)) - 2 * across / (m * m)
