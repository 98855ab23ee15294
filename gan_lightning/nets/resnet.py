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

from torch import Tensor, nn

from gan_lightning.nets.common import check_norm, conv_bias, init_normal_weights, norm_layer
from gan_lightning.renamed import renamed_value

DESIGNS = ("course", "paper")


class ResidualBlock(nn.Module):
    """``x + norm(Conv3x3(ReLU(norm(Conv3x3(x)))))``: the identity path keeps the content."""

    def __init__(self, width: int, norm: str = "batch", padding: str = "zeros") -> None:
        super().__init__()
        bias = conv_bias(norm)
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, 1, 1, bias=bias, padding_mode=padding),
            norm_layer(norm, width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1, bias=bias, padding_mode=padding),
            norm_layer(norm, width),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image (N, in_channels, H, W) -> image (N, out_channels, H, W) in [-1, 1]."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        image_size: int = 128,
        base_width: int = 64,
        num_blocks: int = 6,
        norm: str = "batch",
        design: str = "course",
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        design = renamed_value("design", design)
        if design not in DESIGNS:
            raise ValueError(f"design must be one of {', '.join(DESIGNS)}, got {design!r}")
        check_norm(norm)
        if num_blocks < 0:
            raise ValueError(f"num_blocks must be >= 0, got {num_blocks}")
        self.stride_product = 8 if design == "course" else 4
        if image_size % self.stride_product:
            raise ValueError(
                f"image_size must be a multiple of {self.stride_product} for the {design} "
                f"ResNet generator, got {image_size}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.image_size = image_size
        self.design = design
        bias = conv_bias(norm)
        w = base_width
        if design == "course":
            widths = [in_channels, w, 2 * w, 4 * w]
            encoder: list[nn.Module] = []
            for w_in, w_out in zip(widths, widths[1:], strict=False):
                encoder += [nn.Conv2d(w_in, w_out, 4, 2, 1, bias=bias), norm_layer(norm, w_out)]
                encoder.append(nn.ReLU())
            decoder: list[nn.Module] = []
            for w_in, w_out in ((4 * w, 2 * w), (2 * w, w)):
                decoder += [
                    nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=bias),
                    norm_layer(norm, w_out),
                    nn.ReLU(),
                ]
            decoder += [nn.ConvTranspose2d(w, out_channels, 4, 2, 1), nn.Tanh()]
            padding = "zeros"
        else:
            encoder = [
                nn.Conv2d(in_channels, w, 7, 1, 3, bias=bias, padding_mode="reflect"),
                norm_layer(norm, w),
                nn.ReLU(),
            ]
            for w_in, w_out in ((w, 2 * w), (2 * w, 4 * w)):
                encoder += [
                    nn.Conv2d(w_in, w_out, 3, 2, 1, bias=bias),
                    norm_layer(norm, w_out),
                    nn.ReLU(),
                ]
            decoder = []
            for w_in, w_out in ((4 * w, 2 * w), (2 * w, w)):
                decoder += [
                    nn.ConvTranspose2d(w_in, w_out, 3, 2, 1, output_padding=1, bias=bias),
                    norm_layer(norm, w_out),
                    nn.ReLU(),
                ]
            decoder += [nn.Conv2d(w, out_channels, 7, 1, 3, padding_mode="reflect"), nn.Tanh()]
            padding = "reflect"
        blocks = [ResidualBlock(4 * w, norm, padding) for _ in range(num_blocks)]
        self.encoder = nn.Sequential(*encoder)
        self.blocks = nn.Sequential(*blocks)
        self.decoder = nn.Sequential(*decoder)
        if init_weights:
            self.apply(init_normal_weights)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.blocks(self.encoder(x)))
