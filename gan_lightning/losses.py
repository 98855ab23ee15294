"""Adversarial objectives on discriminator logits.

Each objective owns both halves of the game (the D loss and the G loss) so a variant swaps the
whole objective with one config choice (``model/loss=hinge``, files in conf/model/loss/).
Discriminators output raw scores (no sigmoid): the BCE objectives use the numerically stable
``*_with_logits`` forms.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor


class AdversarialLoss:
    """Base class: label smoothing and label noise apply to the discriminator targets only.

    ``real_label_smoothing`` is one-sided (Salimans et al. 2016): real targets become 1 - s, fake
    targets stay 0. ``label_flip_prob`` swaps a random fraction of D's real/fake targets.
    Objectives without targets (``has_targets = False``: hinge, Wasserstein) take both options
    only at 0, so ``model.loss._target_=...`` swaps the class of a node that lists them.
    """

    has_targets: ClassVar[bool] = True

    def __init__(self, real_label_smoothing: float = 0.0, label_flip_prob: float = 0.0) -> None:
        if not self.has_targets:
            for key, value in (
                ("real_label_smoothing", real_label_smoothing),
                ("label_flip_prob", label_flip_prob),
            ):
                if value:
                    raise ValueError(
                        f"{type(self).__name__} has no real/fake targets to smooth or flip: "
                        f"drop {key} (or set it to 0)"
                    )
        if not 0.0 <= real_label_smoothing < 1.0:
            raise ValueError(f"real_label_smoothing must be in [0, 1), got {real_label_smoothing}")
        if not 0.0 <= label_flip_prob < 0.5:
            raise ValueError(f"label_flip_prob must be in [0, 0.5), got {label_flip_prob}")
        self.real_label_smoothing = real_label_smoothing
        self.label_flip_prob = label_flip_prob

    @property
    def decision_boundary(self) -> float:
        """D's output between "real" and "fake" (ADA reads the sign of D's output minus it)."""
        return 0.0

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

    @property
    def decision_boundary(self) -> float:
        return 0.5 * (1.0 - self.real_label_smoothing)  # midway between D's two targets


class HingeLoss(AdversarialLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018, SN-GAN).

    D: mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))). G: -mean(D(G(z))).
    ``score`` is D's raw output (no probability), so logged d_real/d_fake are raw values.
    """

    has_targets = False

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def generator(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.mean()


class WassersteinLoss(AdversarialLoss):
    """WGAN critic loss (Arjovsky et al. 2017).

    D: mean(D(G(z))) - mean(D(x)). G: -mean(D(G(z))). Only meaningful with a Lipschitz critic,
    which this loss does not enforce: add a gradient penalty or spectral norm (separate options;
    the paper clipped weights), otherwise D's loss is unbounded. ``score`` is the raw critic
    value, so logged d_real/d_fake are not probabilities.
    """

    has_targets = False

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return fake_logits.mean() - real_logits.mean()

    def generator(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.mean()
