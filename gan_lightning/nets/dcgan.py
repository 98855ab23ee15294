"""Convolutional generator and discriminator of the DCGAN family.

Two designs share one parametric implementation:

* ``"radford"``: Radford et al. (2016). All-convolutional: G starts with a 4x4 transposed
  convolution from z viewed as a 1x1 map, D ends with a 4x4 valid convolution to one logit.
* ``"course"``: the course's 32x32 design. Same conv stacks, but G starts and D ends with a
  fully connected layer to / from the 4x4 feature map.

Both use kernel 4 / stride 2 / padding 1 to halve or double the resolution, BatchNorm everywhere
except D's first layer and the output layers, LeakyReLU(0.2) in D, ReLU in G and tanh on the
output. The number of stride-2 layers is log2(image_size / 4); widths double per layer away from
the image, capped at 8 * base_width.
"""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

from gan_lightning.nets.common import (
    apply_spectral_norm,
    check_at_least,
    check_choice,
    chosen_design,
    conv_block,
    doubling_widths,
    downsampling,
    halvings,
    init_normal_weights,
)
from gan_lightning.nets.layers import MinibatchStdDev, with_condition, with_condition_maps

DESIGNS = ("radford", "course")
IMAGE_SIZES = (32, 64, 128)


def _widths(design: str, image_size: int, base_width: int) -> list[int]:
    """D's widths from the image_size / 2 map in to the 4x4 map; G uses them in reverse."""
    check_choice("image_size", image_size, IMAGE_SIZES, f" for the {design} DCGAN")
    return doubling_widths(base_width, halvings(image_size, 4))


class DCGANGenerator(nn.Module):
    """z -> 4x4 map -> [ConvTranspose 4x4 s2 -> BatchNorm -> ReLU] x n -> ConvTranspose -> tanh.

    The 4x4 map comes from ConvTranspose 4x4 s1 on z as a 1x1 map (+ BatchNorm + ReLU) for
    ``design="radford"``, from a Linear layer for ``design="course"``. ``num_classes > 0`` makes it
    conditional: a one-hot label is concatenated to z.
    """

    def __init__(
        self,
        latent_dim: int,
        image_size: int = 32,
        channels: int = 3,
        base_width: int = 64,
        num_classes: int = 0,
        design: str = "radford",
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        design = chosen_design(design, DESIGNS)
        widths = _widths(design, image_size, base_width)[::-1]
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.channels = channels
        self.num_classes = num_classes
        self.design = design
        in_dim = latent_dim + num_classes
        if design == "radford":
            self.project: nn.Module = nn.Sequential(
                nn.Unflatten(1, (in_dim, 1, 1)),
                *conv_block(in_dim, widths[0], 4, 1, 0, transpose=True),
            )
        else:
            self.project = nn.Sequential(
                nn.Linear(in_dim, widths[0] * 4 * 4), nn.Unflatten(1, (widths[0], 4, 4))
            )
        layers: list[nn.Module] = []
        for w_in, w_out in pairwise(widths):
            layers += conv_block(w_in, w_out, 4, 2, 1, transpose=True)
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        if init_weights:
            self.apply(init_normal_weights)

    def forward(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        return self.body(self.project(with_condition(z, condition)))


class DCGANDiscriminator(nn.Module):
    """image -> Conv 4x4 s2 -> LeakyReLU(0.2) -> [Conv 4x4 s2 -> BatchNorm -> LeakyReLU] x n.

    The 4x4 map goes to one logit through Conv 4x4 s1 p0 for ``design="radford"``, through
    flatten + Linear for ``design="course"``. ``num_classes > 0`` makes it conditional: the one-hot
    label is appended to the image as ``num_classes`` constant maps. ``pack=m`` takes m images
    stacked along channels (PacGAN); ``minibatch_std`` adds the batch-spread map before the head.
    ``spectral_norm`` normalises every Conv/Linear weight after the init and keeps the BatchNorm
    layers (``nets.common.apply_spectral_norm``).
    """

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        base_width: int = 64,
        num_classes: int = 0,
        design: str = "radford",
        init_weights: bool = True,
        pack: int = 1,
        minibatch_std: bool = False,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        design = chosen_design(design, DESIGNS)
        check_at_least("pack", pack, 1)
        widths = _widths(design, image_size, base_width)
        self.image_size = image_size
        self.channels = channels
        self.num_classes = num_classes
        self.design = design
        self.pack = pack
        layers = downsampling((channels + num_classes) * pack, widths)
        if minibatch_std:
            layers.append(MinibatchStdDev())
        self.body = nn.Sequential(*layers)
        last = widths[-1] + int(minibatch_std)
        if design == "radford":
            self.head: nn.Module = nn.Sequential(nn.Conv2d(last, 1, 4, 1, 0), nn.Flatten())
        else:
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(last * 4 * 4, 1))
        if init_weights:
            self.apply(init_normal_weights)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        if condition is not None:
            x = with_condition_maps(x, condition)
        return self.head(self.body(x)).squeeze(1)
