"""Adversarial objectives on discriminator logits.

Each objective owns both halves of the game (the D loss and the G loss) so a variant swaps the
whole objective with one config key. Discriminators output raw scores (no sigmoid): the BCE
objectives use the numerically stable ``*_with_logits`` forms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class AdversarialLoss:
    """Base class: label smoothing and label noise apply to the discriminator targets only.

    ``real_label_smoothing`` is one-sided (Salimans et al. 2016): real targets become 1 - s, fake
    targets stay 0. ``label_flip_prob`` swaps a random fraction of D's real/fake targets.
    """

    def __init__(self, real_label_smoothing: float = 0.0, label_flip_prob: float = 0.0) -> None:
        if not 0.0 <= real_label_smoothing < 1.0:
            raise ValueError(f"real_label_smoothing must be in [0, 1), got {real_label_smoothing}")
        if not 0.0 <= label_flip_prob < 0.5:
            raise ValueError(f"label_flip_prob must be in [0, 0.5), got {label_flip_prob}")
        self.real_label_smoothing = real_label_smoothing
        self.label_flip_prob = label_flip_prob

    def _targets(self, logits: Tensor, real: bool) -> Tensor:
        target = torch.full_like(logits, 1.0 - self.real_label_smoothing if real else 0.0)
        if self.label_flip_prob > 0:
            flip = torch.rand_like(logits) < self.label_flip_prob
            other = torch.full_like(logits, 0.0 if real else 1.0 - self.real_label_smoothing)
            target = torch.where(flip, other, target)
        return target

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        raise NotImplementedError

    def generator(self, fake_logits: Tensor) -> Tensor:
        raise NotImplementedError

    def score(self, logits: Tensor) -> Tensor:
        """D's output in the unit the objective reasons in (a probability for BCE objectives)."""
        return logits


class NonSaturatingLoss(AdversarialLoss):
    """D: BCE(D(x), 1) + BCE(D(G(z)), 0). G: BCE(D(G(z)), 1), i.e. G maximises log D(G(z))."""

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        real = F.binary_cross_entropy_with_logits(real_logits, self._targets(real_logits, True))
        fake = F.binary_cross_entropy_with_logits(fake_logits, self._targets(fake_logits, False))
        return real + fake

    def generator(self, fake_logits: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

    def score(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits)


class MinimaxLoss(NonSaturatingLoss):
    """The original game: G minimises log(1 - D(G(z))) = -softplus(logit). Saturates early on."""

    def generator(self, fake_logits: Tensor) -> Tensor:
        return -F.softplus(fake_logits).mean()


class LeastSquaresLoss(AdversarialLoss):
    """LSGAN (Mao et al. 2017): D: mean((D(x)-1)^2) + mean(D(G(z))^2). G: mean((D(G(z))-1)^2)."""

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        real = (real_logits - self._targets(real_logits, True)).pow(2).mean()
        fake = (fake_logits - self._targets(fake_logits, False)).pow(2).mean()
        return real + fake

    def generator(self, fake_logits: Tensor) -> Tensor:
        return (fake_logits - 1.0).pow(2).mean()
