"""Learning-rate schedules that are not in torch: built per optimizer from a ``_partial_`` node."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class ConstantThenLinear:
    """lr factor 1 for ``constant_epochs``, then linearly to 0 over ``decay_epochs``.

    A class rather than a closure so that the scheduler's state dict holds plain numbers.
    """

    def __init__(self, constant_epochs: int, decay_epochs: int) -> None:
        if constant_epochs < 0 or decay_epochs < 1:
            raise ValueError("constant_epochs must be >= 0 and decay_epochs >= 1")
        self.constant_epochs = constant_epochs
        self.decay_epochs = decay_epochs

    def __call__(self, epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - self.constant_epochs) / (self.decay_epochs + 1)


def constant_then_linear_decay(
    optimizer: Optimizer, constant_epochs: int = 100, decay_epochs: int = 100
) -> LambdaLR:
    """The CycleGAN / pix2pix schedule (Zhu et al. 2017: 100 epochs at 2e-4, 100 decaying)."""
    return LambdaLR(optimizer, ConstantThenLinear(constant_epochs, decay_epochs))
