"""U-Net generator of pix2pix (Isola et al. 2017): an encoder-decoder with skip connections.

Encoder level i: [LeakyReLU(0.2) ->] Conv 4x4 s2 [-> norm] (no activation before the first,
no norm on the first and the innermost); widths double from ``base_width`` up to 8x. Decoder
level i: ReLU -> ConvTranspose 4x4 s2 -> norm [-> Dropout], taking encoder level i's output
concatenated with the level below; the outermost level ends in tanh. Dropout follows the
paper (its first three decoder layers, CD512-CD1024-CD1024, the innermost included), not
junyanz's code (``num_downs - 5`` layers after the innermost); ``dropout_layers`` sets how
many. ``num_downs`` halvings take a ``2**num_downs`` image down to a 1x1 bottleneck: 8 for
``unet_256``, 7 for ``unet_128``, 6 at 64x64 (the default is ``log2(image_size)``).

Skips carry the low-level structure (edges, layout) straight to the output, so the bottleneck
only has to encode what changes between the domains. Dropout in the first decoder layers is
the generator's only noise source: pix2pix found that an input z was simply ignored.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_lightning.nets.common import (
    check_at_least,
    check_multiple,
    check_norm,
    conv_bias,
    doubling_widths,
    halvings,
    init_normal_weights,
    norm_layer,
)


def default_num_downs(image_size: int) -> int:
    """Halvings that bring ``image_size`` down to 1x1 (the paper's bottleneck)."""
    num_downs = halvings(image_size, 1)
    if num_downs is None or num_downs < 2:
        raise ValueError(
            f"image_size={image_size} is not a power of two >= 4; set model.generator.num_downs "
            "so that image_size is a multiple of 2**num_downs"
        )
    return num_downs


class UnetGenerator(nn.Module):
    """Image (N, in_channels, H, W) -> image (N, out_channels, H, W) in [-1, 1].

    H and W must be multiples of ``2**num_downs`` (``stride_product``); at inference any such
    size works, since the network is fully convolutional.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        image_size: int = 256,
        base_width: int = 64,
        num_downs: int | None = None,
        norm: str = "batch",
        dropout: float = 0.5,
        dropout_layers: int = 3,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        check_norm(norm)
        if num_downs is None:
            num_downs = default_num_downs(image_size)
        check_at_least("num_downs", num_downs, 2)
        self.stride_product = 2**num_downs
        check_multiple(
            image_size,
            self.stride_product,
            f"2**num_downs={self.stride_product}",
            "lower model.generator.num_downs or change data.image_size",
        )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        check_at_least("dropout_layers", dropout_layers, 0)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.image_size = image_size
        self.num_downs = num_downs
        bias = conv_bias(norm)
        widths = doubling_widths(base_width, num_downs)
        innermost = num_downs - 1

        self.downs = nn.ModuleList()
        for level, width in enumerate(widths):
            layers: list[nn.Module] = [] if level == 0 else [nn.LeakyReLU(0.2)]
            source = in_channels if level == 0 else widths[level - 1]
            layers.append(nn.Conv2d(source, width, 4, 2, 1, bias=bias))
            if 0 < level < innermost:
                layers.append(norm_layer(norm, width))
            self.downs.append(nn.Sequential(*layers))

        self.ups = nn.ModuleList()  # ups[i] undoes downs[i]; run from the innermost outwards
        for level, width in enumerate(widths):
            source = width if level == innermost else 2 * width  # + the skip of this level
            if level == 0:
                layers = [nn.ReLU(), nn.ConvTranspose2d(source, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                target = widths[level - 1]
                layers = [
                    nn.ReLU(),
                    nn.ConvTranspose2d(source, target, 4, 2, 1, bias=bias),
                    norm_layer(norm, target),
                ]
                if innermost - level < dropout_layers and dropout > 0:
                    layers.append(nn.Dropout(dropout))
            self.ups.append(nn.Sequential(*layers))
        if init_weights:
            self.apply(init_normal_weights)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[-1](skips.pop())
        for up in reversed(self.ups[:-1]):
            x = up(torch.cat([skips.pop(), x], dim=1))
        return x
