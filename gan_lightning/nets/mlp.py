"""Fully connected generator and discriminator of the vanilla GAN."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def _hidden_stack(in_dim: int, hidden_dims: Sequence[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden_dims:
        layers += [nn.Linear(in_dim, width), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
        in_dim = width
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z -> N x [Linear -> LeakyReLU(0.2) -> Dropout] -> Linear -> tanh, reshaped to an image.

    ``num_classes > 0`` makes it conditional: a one-hot label is concatenated to z.
    """

    def __init__(
        self,
        latent_dim: int,
        out_shape: Sequence[int],
        hidden_dims: Sequence[int] = (256, 512, 1024),
        dropout: float = 0.3,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.out_shape = tuple(out_shape)
        self.num_classes = num_classes
        self.body = _hidden_stack(latent_dim + num_classes, hidden_dims, dropout)
        self.head = nn.Linear(hidden_dims[-1], math.prod(self.out_shape))

    def forward(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        if condition is not None:
            z = torch.cat([z, condition.to(z.dtype)], dim=1)
        return self.head(self.body(z)).tanh().view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """image -> flatten -> N x [Linear -> LeakyReLU(0.2) -> Dropout] -> Linear (one logit)."""

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden_dims: Sequence[int] = (1024, 512, 256),
        dropout: float = 0.3,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes
        self.body = _hidden_stack(math.prod(self.in_shape) + num_classes, hidden_dims, dropout)
        self.head = nn.Linear(hidden_dims[-1], 1)

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        x = x.flatten(1)
        if condition is not None:
            x = torch.cat([x, condition.to(x.dtype)], dim=1)
        return self.head(self.body(x)).squeeze(1)
