"""Input joins and layers that any network can use: conditioning, PacGAN, minibatch spread."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def with_condition(x: Tensor, condition: Tensor | None) -> Tensor:
    """``x`` with the condition (a one-hot label, a text code) appended as extra features."""
    if condition is None:
        return x
    return torch.cat([x, condition.to(x.dtype)], dim=1)


def with_condition_maps(x: Tensor, condition: Tensor) -> Tensor:
    """A feature map with a vector per sample replicated over it as extra channels."""
    maps = condition.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
    return torch.cat([x, maps], dim=1)


def pack_samples(x: Tensor, pack: int) -> Tensor:
    """PacGAN packing (Lin et al. 2018): ``m`` consecutive samples become one D input.

    (N, C, ...) -> (N // m, m * C, ...): images are stacked along channels, vectors concatenated.
    A remainder of fewer than ``m`` samples is dropped.
    """
    if pack == 1:
        return x
    usable = x.shape[0] // pack * pack
    if usable == 0:
        raise ValueError(f"a batch of {x.shape[0]} cannot be packed in groups of {pack}")
    x = x[:usable]
    return x.reshape(usable // pack, pack * x.shape[1], *x.shape[2:])


class MinibatchStdDev(nn.Module):
    """Appends the batch's mean standard deviation as one extra feature (Karras et al. 2018).

    A collapsed generator makes batches with a small spread, which D can then see. Works on
    feature vectors (N, F) -> (N, F + 1) and on maps (N, C, H, W) -> (N, C + 1, H, W).
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] < 2:
            spread = x.new_zeros(())
        else:
            spread = (x.var(dim=0, unbiased=False) + self.eps).sqrt().mean()
        extra = spread.expand(x.shape[0], 1, *x.shape[2:])
        return torch.cat([x, extra], dim=1)


class ConditionalBatchNorm(nn.Module):
    """BatchNorm with a per-class gain and bias (de Vries et al. 2017; Miyato & Koyama 2018).

    ``BatchNorm(affine=False)`` normalises, then ``gamma_y * x_hat + beta_y`` with ``gamma_y`` and
    ``beta_y`` read from the one-hot label through bias-free Linear layers (the columns of their
    weights are the per-class gains and biases; a soft label mixes them). Gains start at 1 and
    biases at 0, so at init this is the affine-free BatchNorm. Works on vectors (N, C) and maps
    (N, C, H, W); called as ``cbn(x, one_hot)`` (``forward_with_condition`` does so in a stack).
    """

    def __init__(self, num_features: int, num_classes: int, maps: bool = False) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if maps else nn.BatchNorm1d
        self.norm = norm(num_features, affine=False)
        self.gain = nn.Linear(num_classes, num_features, bias=False)
        self.bias = nn.Linear(num_classes, num_features, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Gains 1, biases 0; the nets call it again after their own weight init."""
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        condition = condition.to(x.dtype)
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
        gain = self.gain(condition).view(shape)
        bias = self.bias(condition).view(shape)
        return self.norm(x) * gain + bias


def with_conditional_batch_norms(stack: nn.Sequential, num_classes: int) -> int:
    """Replaces each BatchNorm1d/2d directly in ``stack`` by a ConditionalBatchNorm, in place.

    The new layer normalises the same features (same running-stat settings); returns how many were
    replaced. Run the stack with ``forward_with_condition``.
    """
    count = 0
    for name, layer in stack.named_children():
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            maps = isinstance(layer, nn.BatchNorm2d)
            cbn = ConditionalBatchNorm(layer.num_features, num_classes, maps=maps)
            cbn.norm.eps, cbn.norm.momentum = layer.eps, layer.momentum
            setattr(stack, name, cbn)
            count += 1
    return count


def forward_with_condition(stack: nn.Sequential, x: Tensor, condition: Tensor | None) -> Tensor:
    """Runs ``stack`` on ``x``, giving ``condition`` to its ConditionalBatchNorm layers."""
    for layer in stack:
        if isinstance(layer, ConditionalBatchNorm):
            if condition is None:
                raise ValueError("conditional BatchNorm needs the one-hot label as second input")
            x = layer(x, condition)
        else:
            x = layer(x)
    return x


def projection(embed: nn.Module, features: Tensor, condition: Tensor | None) -> Tensor:
    """The projection discriminator's class term ``<embed(y), phi(x)>``, one value per sample.

    ``features`` is phi(x) as (N, F) or a map (N, C, H, W) (flattened: the embedding then has
    C * H * W entries per class); ``embed`` maps the one-hot label to F (or C * H * W) values.
    """
    if condition is None:
        raise ValueError("a projection discriminator needs the one-hot label as second input")
    return (embed(condition.to(features.dtype)) * features.flatten(1)).sum(1)
