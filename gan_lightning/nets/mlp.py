"""Fully connected generator and discriminator: the vanilla GAN's nets and the 2-D toy nets."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from gan_lightning.nets.common import (
    ACTIVATIONS,
    D_CONDITIONINGS,
    G_CONDITIONINGS,
    apply_spectral_norm,
    check_at_least,
    check_choice,
    check_conditioning,
)
from gan_lightning.nets.layers import (
    MinibatchStdDev,
    forward_with_condition,
    projection,
    with_condition,
    with_conditional_batch_norms,
)
from gan_lightning.sizes import PositiveInt

OUTPUT_ACTIVATIONS = ("tanh", "none")


def _hidden_stack(
    in_dim: int,
    hidden_dims: Sequence[PositiveInt],
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

    ``num_classes > 0`` makes it conditional: with ``conditioning="concat"`` a one-hot label is
    concatenated to z; with ``"cbn"`` each BatchNorm becomes a conditional BatchNorm (per-class
    gain and bias, ``nets.layers.ConditionalBatchNorm``) and z goes in alone (needs
    ``batch_norm=True``). ``output_activation="none"`` is for unbounded outputs such as the
    2-D toy points.
    """

    def __init__(
        self,
        latent_dim: PositiveInt,
        out_shape: Sequence[PositiveInt],
        hidden_dims: Sequence[PositiveInt] = (256, 512, 1024),
        dropout: float = 0.3,
        num_classes: int = 0,
        activation: str = "leaky_relu",
        batch_norm: bool = False,
        output_activation: str = "tanh",
        conditioning: str = "concat",
    ) -> None:
        super().__init__()
        check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
        check_conditioning("generator", conditioning, G_CONDITIONINGS, num_classes)
        if conditioning == "cbn" and not batch_norm:
            raise ValueError(
                "model.generator.conditioning=cbn conditions G's BatchNorm layers, and this MLP "
                "generator has none: set model.generator.batch_norm=true"
            )
        self.latent_dim = latent_dim
        self.out_shape = tuple(out_shape)
        self.num_classes = num_classes
        self.output_activation = output_activation
        self.conditioning = conditioning
        in_dim = latent_dim + (num_classes if conditioning == "concat" else 0)
        self.body = _hidden_stack(in_dim, hidden_dims, dropout, activation, batch_norm)
        if conditioning == "cbn":
            with_conditional_batch_norms(self.body, num_classes)
        self.head = nn.Linear(hidden_dims[-1], math.prod(self.out_shape))

    def forward(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        if self.conditioning == "cbn":
            out = self.head(forward_with_condition(self.body, z, condition))
        else:
            out = self.head(self.body(with_condition(z, condition)))
        if self.output_activation == "tanh":
            out = out.tanh()
        return out.view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """sample -> flatten -> N x [Linear -> LeakyReLU(0.2) -> Dropout] -> Linear (one logit).

    ``pack=m`` takes m samples (and their labels) concatenated, for PacGAN; ``minibatch_std``
    appends the batch spread before the last layer. ``spectral_norm`` normalises every Linear
    weight (``nets.common.apply_spectral_norm``; this D has no norm layer), the projection's
    embedding included.

    ``conditioning="concat"`` appends the one-hot label to the input; ``"projection"`` (Miyato &
    Koyama 2018) leaves the input alone and adds ``<embed(y), phi(x)>`` to the logit
    ``psi(phi(x))``, phi(x) the last hidden features (after the minibatch spread, if any), psi
    the final Linear, embed a bias-free Linear on the one-hot label (the class embedding: its
    columns). With ``pack=m`` the packed labels are m one-hots side by side, so the pack's
    embedding is the sum of its members' (one embedding table per pack slot).
    """

    def __init__(
        self,
        in_shape: Sequence[PositiveInt],
        hidden_dims: Sequence[PositiveInt] = (1024, 512, 256),
        dropout: float = 0.3,
        num_classes: int = 0,
        pack: PositiveInt = 1,
        minibatch_std: bool = False,
        spectral_norm: bool = False,
        conditioning: str = "concat",
    ) -> None:
        super().__init__()
        check_at_least("pack", pack, 1)
        check_conditioning("discriminator", conditioning, D_CONDITIONINGS, num_classes)
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes
        self.pack = pack
        self.conditioning = conditioning
        label_dim = num_classes if conditioning == "concat" else 0
        in_dim = (math.prod(self.in_shape) + label_dim) * pack
        self.body = _hidden_stack(in_dim, hidden_dims, dropout)
        self.spread = MinibatchStdDev() if minibatch_std else nn.Identity()
        feature_dim = hidden_dims[-1] + int(minibatch_std)
        self.head = nn.Linear(feature_dim, 1)
        if conditioning == "projection":
            self.embed = nn.Linear(num_classes * pack, feature_dim, bias=False)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        if self.conditioning == "projection":
            features = self.spread(self.body(x.flatten(1)))
            return self.head(features).squeeze(1) + projection(self.embed, features, condition)
        x = with_condition(x.flatten(1), condition)
        return self.head(self.spread(self.body(x))).squeeze(1)
