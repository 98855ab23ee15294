"""Fully connected generator and discriminator: the vanilla GAN's nets and the 2-D toy nets."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from gan_lightning.nets.common import (
    ACTIVATIONS,
    apply_spectral_norm,
    check_at_least,
    check_choice,
)
from gan_lightning.nets.layers import MinibatchStdDev, with_condition

OUTPUT_ACTIVATIONS = ("tanh", "none")


def _hidden_stack(
    in_dim: int,
    hidden_dims: Sequence[int],
    dropout: float,
    activation: str = "leaky_relu",
    batch_norm: bool = False,
) -> nn.Sequential:
    check_choice("activation", activation, ACTIVATIONS)
    layers: list[nn.Module] = []
    for width in hidden_dims:
        layers.append(nn.Linear(in_dim, width, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(ACTIVATIONS[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
        in_dim = width
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z -> N x [Linear -> (BatchNorm) -> activation -> Dropout] -> Linear -> tanh, reshaped.

    ``num_classes > 0`` makes it conditional: a one-hot label is concatenated to z.
    ``output_activation="none"`` is for unbounded outputs such as the 2-D toy points.
    """

    def __init__(
        self,
        latent_dim: int,
        out_shape: Sequence[int],
        hidden_dims: Sequence[int] = (256, 512, 1024),
        dropout: float = 0.3,
        num_classes: int = 0,
        activation: str = "leaky_relu",
        batch_norm: bool = False,
        output_activation: str = "tanh",
    ) -> None:
        super().__init__()
        check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
        self.latent_dim = latent_dim
        self.out_shape = tuple(out_shape)
        self.num_classes = num_classes
        self.output_activation = output_activation
        self.body = _hidden_stack(
            latent_dim + num_classes, hidden_dims, dropout, activation, batch_norm
        )
        self.head = nn.Linear(hidden_dims[-1], math.prod(self.out_shape))

    def forward(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        out = self.head(self.body(with_condition(z, condition)))
        if self.output_activation == "tanh":
            out = out.tanh()
        return out.view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """sample -> flatten -> N x [Linear -> LeakyReLU(0.2) -> Dropout] -> Linear (one logit).

    ``pack=m`` takes m samples (and their labels) concatenated, for PacGAN; ``minibatch_std``
    appends the batch spread before the last layer. ``spectral_norm`` normalises every Linear
    weight (``nets.common.apply_spectral_norm``; this D has no norm layer).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden_dims: Sequence[int] = (1024, 512, 256),
        dropout: float = 0.3,
        num_classes: int = 0,
        pack: int = 1,
        minibatch_std: bool = False,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        check_at_least("pack", pack, 1)
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes
        self.pack = pack
        in_dim = (math.prod(self.in_shape) + num_classes) * pack
        self.body = _hidden_stack(in_dim, hidden_dims, dropout)
        self.spread = MinibatchStdDev() if minibatch_std else nn.Identity()
        self.head = nn.Linear(hidden_dims[-1] + int(minibatch_std), 1)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        x = with_condition(x.flatten(1), condition)
        return self.head(self.spread(self.body(x))).squeeze(1)
