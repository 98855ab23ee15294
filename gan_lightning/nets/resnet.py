"""ResNet image-to-image generator of CycleGAN: encoder, residual blocks, decoder.

Two designs share one implementation:

* ``"course"``: the course's design at 128x128. Encoder 3 x [Conv 4x4 s2 -> norm -> ReLU],
  residual blocks ``x + norm(Conv(ReLU(norm(Conv(x)))))`` with zero padding, decoder
  2 x [ConvTranspose 4x4 s2 -> norm -> ReLU] -> ConvTranspose 4x4 s2 -> tanh. Sizes must be
  multiples of 8.
* ``"paper"``: Zhu et al. (2017) / Johnson et al. (2016). Reflection-padded 7x7 stem,
  2 x [Conv 3x3 s2 -> norm -> ReLU], reflection-padded residual blocks, 2 x [ConvTranspose 3x3
  s2 -> norm -> ReLU], reflection-padded 7x7 conv -> tanh. Sizes must be multiples of 4. The
  paper uses 9 blocks and instance norm at 256x256 (6 blocks at 128x128).

Fully convolutional: any size that fits the stride pattern works at inference time.
"""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

from gan_lightning.nets.common import (
    check_at_least,
    check_multiple,
    check_norm,
    chosen_design,
    conv_block,
    init_normal_weights,
)
from gan_lightning.sizes import PositiveInt

DESIGNS = ("course", "paper")


class ResidualBlock(nn.Module):
    """``x + norm(Conv3x3(ReLU(norm(Conv3x3(x)))))``: the identity path keeps the content."""

    def __init__(self, width: int, norm: str = "batch", padding: str = "zeros") -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_block(width, width, 3, 1, 1, norm, padding_mode=padding),
            *conv_block(width, width, 3, 1, 1, norm, activation=None, padding_mode=padding),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image (N, in_channels, H, W) -> image (N, out_channels, H, W) in [-1, 1]."""

    def __init__(
        self,
        in_channels: PositiveInt = 3,
        out_channels: PositiveInt = 3,
        image_size: PositiveInt = 128,
        base_width: PositiveInt = 64,
        num_blocks: int = 6,
        norm: str = "batch",
        design: str = "course",
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        design = chosen_design(design, DESIGNS)
        check_norm(norm)
        check_at_least("num_blocks", num_blocks, 0)
        self.stride_product = 8 if design == "course" else 4
        check_multiple(
            image_size,
            self.stride_product,
            str(self.stride_product),
            f"the {design} ResNet generator's strides need it, change data.image_size",
        )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.image_size = image_size
        self.design = design
        w = base_width
        if design == "course":  # three 4x4 stride-2 convs in, three transposed ones out
            kernel, output_padding, padding = 4, 0, "zeros"
            encoder: list[nn.Module] = []
            down_widths = [in_channels, w, 2 * w, 4 * w]
        else:  # a 7x7 reflection-padded stem, two 3x3 stride-2 convs, and back
            kernel, output_padding, padding = 3, 1, "reflect"
            encoder = conv_block(in_channels, w, 7, 1, 3, norm, padding_mode="reflect")
            down_widths = [w, 2 * w, 4 * w]
        for w_in, w_out in pairwise(down_widths):
            encoder += conv_block(w_in, w_out, kernel, 2, 1, norm)
        decoder: list[nn.Module] = []
        for w_in, w_out in ((4 * w, 2 * w), (2 * w, w)):
            decoder += conv_block(
                w_in, w_out, kernel, 2, 1, norm, transpose=True, output_padding=output_padding
            )
        if design == "course":
            decoder += [nn.ConvTranspose2d(w, out_channels, 4, 2, 1), nn.Tanh()]
        else:
            decoder += [nn.Conv2d(w, out_channels, 7, 1, 3, padding_mode="reflect"), nn.Tanh()]
        blocks = [ResidualBlock(4 * w, norm, padding) for _ in range(num_blocks)]
        self.encoder = nn.Sequential(*encoder)
        self.blocks = nn.Sequential(*blocks)
        self.decoder = nn.Sequential(*decoder)
        if init_weights:
            self.apply(init_normal_weights)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.blocks(self.encoder(x)))
