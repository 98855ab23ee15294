"""PatchGAN discriminator: one real/fake score per overlapping image patch (Isola et al. 2017).

Judging patches instead of the whole image models local texture and style, and works at any
image size. Two designs share one implementation:

* ``"course"``: the course's CycleGAN discriminator. Conv 4x4 s2 -> ReLU, then ``num_layers`` x
  [Conv 4x4 s2 -> norm -> ReLU], then Conv 4x4 s1 to one channel (7x7 patches at 128x128).
* ``"paper"``: the 70x70 PatchGAN of pix2pix / CycleGAN. Conv 4x4 s2 -> LeakyReLU(0.2), then
  ``num_layers - 1`` x [Conv 4x4 s2 -> norm -> LeakyReLU], one [Conv 4x4 s1 -> norm ->
  LeakyReLU], then Conv 4x4 s1 to one channel (30x30 patches at 256x256).

Widths double per layer from ``base_width``, capped at 8x. The output is a map of logits
(N, 1, h, w); the losses average over it.
"""

from __future__ import annotations

from torch import Tensor, nn

from gan_lightning.nets.common import (
    apply_spectral_norm,
    check_at_least,
    check_norm,
    chosen_design,
    doubling_widths,
    downsampling,
    init_normal_weights,
)
from gan_lightning.sizes import PositiveInt

DESIGNS = ("course", "paper")


def min_image_size(num_layers: int, design: str) -> int:
    """The smallest input that still leaves a 1x1 map of logits."""
    if design == "course":  # num_layers + 1 halvings, then a 4x4 s1 p1 conv (h -> h - 1)
        return 2 ** (num_layers + 2)
    return 3 * 2**num_layers  # num_layers halvings, then two 4x4 s1 p1 convs


class PatchDiscriminator(nn.Module):
    """``in_channels`` is the image's channels, or input + output channels for pix2pix pairs.

    ``image_size`` (optional) is checked against the smallest size the layers can take, so a
    too-small image fails when the network is built rather than in the first batch.
    ``spectral_norm`` normalises every Conv weight after the init; ``norm`` stays as chosen
    (``norm=none`` for SN-GAN's norm-free D; ``nets.common.apply_spectral_norm``).
    """

    def __init__(
        self,
        in_channels: PositiveInt = 3,
        base_width: PositiveInt = 64,
        num_layers: PositiveInt = 3,
        norm: str = "batch",
        design: str = "course",
        init_weights: bool = True,
        image_size: PositiveInt | None = None,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        design = chosen_design(design, DESIGNS)
        check_norm(norm)
        check_at_least("num_layers", num_layers, 1)
        smallest = min_image_size(num_layers, design)
        if image_size is not None and image_size < smallest:
            raise ValueError(
                f"image_size={image_size} is too small for a {num_layers}-layer {design} "
                f"PatchGAN (it needs >= {smallest}); lower num_layers or raise the image size"
            )
        self.in_channels = in_channels
        self.design = design
        widths = doubling_widths(base_width, num_layers + 1)
        self.body = nn.Sequential(
            *downsampling(
                in_channels,
                widths,
                norm,
                activation="relu" if design == "course" else "leaky_relu",
                last_stride=2 if design == "course" else 1,
            ),
            nn.Conv2d(widths[-1], 1, 4, 1, 1),
        )
        if init_weights:
            self.apply(init_normal_weights)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)
