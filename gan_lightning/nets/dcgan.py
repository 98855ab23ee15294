"""Convolutional generator and discriminator of the DCGAN family.

Two designs share one parametric implementation:

* ``"radford"``: Radford et al. (2016). All-convolutional: G starts with a 4x4 transposed
  convolution from z viewed as a 1x1 map, D ends with a 4x4 valid convolution to one logit.
* ``"course"``: the course's 32x32 design. Same conv stacks, but G starts and D ends with a
  fully connected layer to / from the 4x4 feature map.

Both use kernel 4 / stride 2 / padding 1 to halve or double the resolution, BatchNorm everywhere
except D's first layer and the output layers (D's ``norm`` can drop it), LeakyReLU(0.2) in D,
ReLU in G and tanh on the output. The number of stride-2 layers is log2(image_size / 4); widths
double per layer away from the image, capped at 8 * base_width.
"""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

from gan_lightning.nets.common import (
    D_CONDITIONINGS,
    G_CONDITIONINGS,
    apply_spectral_norm,
    check_at_least,
    check_choice,
    check_conditioning,
    check_norm,
    chosen_design,
    conv_block,
    doubling_widths,
    downsampling,
    halvings,
    init_normal_weights,
)
from gan_lightning.nets.layers import (
    ConditionalBatchNorm,
    MinibatchStdDev,
    forward_with_condition,
    projection,
    with_condition,
    with_condition_maps,
    with_conditional_batch_norms,
)
from gan_lightning.sizes import PositiveInt

DESIGNS = ("radford", "course")
IMAGE_SIZES = (32, 64, 128)


def _widths(design: str, image_size: int, base_width: int) -> list[int]:
    """D's widths from the image_size / 2 map in to the 4x4 map; G uses them in reverse."""
    # the config takes it from data.image_size: that is the key to change
    where = f" for the {design} DCGAN (data.image_size)"
    check_choice("image_size", image_size, IMAGE_SIZES, where)
    return doubling_widths(base_width, halvings(image_size, 4))


class DCGANGenerator(nn.Module):
    """z -> 4x4 map -> [ConvTranspose 4x4 s2 -> BatchNorm -> ReLU] x n -> ConvTranspose -> tanh.

    The 4x4 map comes from ConvTranspose 4x4 s1 on z as a 1x1 map (+ BatchNorm + ReLU) for
    ``design="radford"``, from a Linear layer for ``design="course"``. ``num_classes > 0`` makes it
    conditional: with ``conditioning="concat"`` a one-hot label is concatenated to z; with
    ``"cbn"`` every BatchNorm becomes a conditional BatchNorm (per-class gain and bias from the
    label, ``nets.layers.ConditionalBatchNorm``, gains 1 and biases 0 at init whatever
    ``init_weights``) and z goes in alone.
    """

    def __init__(
        self,
        latent_dim: PositiveInt,
        image_size: PositiveInt = 32,
        channels: PositiveInt = 3,
        base_width: PositiveInt = 64,
        num_classes: int = 0,
        design: str = "radford",
        init_weights: bool = True,
        conditioning: str = "concat",
    ) -> None:
        super().__init__()
        design = chosen_design(design, DESIGNS)
        check_conditioning("generator", conditioning, G_CONDITIONINGS, num_classes)
        widths = _widths(design, image_size, base_width)[::-1]
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.channels = channels
        self.num_classes = num_classes
        self.design = design
        self.conditioning = conditioning
        in_dim = latent_dim + (num_classes if conditioning == "concat" else 0)
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
        if conditioning == "cbn":
            for stack in (self.project, self.body):
                with_conditional_batch_norms(stack, num_classes)
        if init_weights:
            self.apply(init_normal_weights)
        for module in self.modules():
            if isinstance(module, ConditionalBatchNorm):
                module.reset_parameters()  # gains 1, biases 0: not the conv init

    def forward(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        if self.conditioning == "cbn":
            x = forward_with_condition(self.project, z, condition)
            return forward_with_condition(self.body, x, condition)
        return self.body(self.project(with_condition(z, condition)))


class DCGANDiscriminator(nn.Module):
    """image -> Conv 4x4 s2 -> LeakyReLU(0.2) -> [Conv 4x4 s2 -> norm -> LeakyReLU] x n.

    The 4x4 map goes to one logit through Conv 4x4 s1 p0 for ``design="radford"``, through
    flatten + Linear for ``design="course"``. ``num_classes > 0`` makes it conditional: the one-hot
    label is appended to the image as ``num_classes`` constant maps. ``pack=m`` takes m images
    stacked along channels (PacGAN); ``minibatch_std`` adds the batch-spread map before the head.
    ``norm`` is BatchNorm (Radford et al.), ``instance`` or ``none``: SN-GAN's D (Miyato et al.
    2018) has no norm layer: BatchNorm's statistics mix the images of each batch D judges, which
    spectral norm does not bound. ``spectral_norm`` normalises every Conv/Linear
    weight after the init, the projection's embedding included, and leaves ``norm`` as chosen
    (``nets.common.apply_spectral_norm``).

    ``conditioning="concat"`` appends the label maps as above; ``"projection"`` (Miyato & Koyama
    2018) leaves the image alone and adds ``<embed(y), phi(x)>`` to the logit ``psi(phi(x))``:
    phi(x) is the final 4x4 feature map flattened (C * 4 * 4 values) and psi the existing head,
    which is a linear function of exactly that vector in both designs; embed is a bias-free
    Linear from the one-hot label to C * 4 * 4 values, so each class adds its own 4x4 filter to
    the head's. (SN-GAN's ResNet D sums its last map over space; here the head already sees
    the whole 4x4 map, position by position, and the projection keeps that.) With ``pack=m`` the
    packed labels are m one-hots side by side: the pack's embedding is the sum of its members'.
    """

    def __init__(
        self,
        image_size: PositiveInt = 32,
        channels: PositiveInt = 3,
        base_width: PositiveInt = 64,
        num_classes: int = 0,
        design: str = "radford",
        init_weights: bool = True,
        pack: PositiveInt = 1,
        minibatch_std: bool = False,
        spectral_norm: bool = False,
        conditioning: str = "concat",
        norm: str = "batch",
    ) -> None:
        super().__init__()
        design = chosen_design(design, DESIGNS)
        check_at_least("pack", pack, 1)
        check_conditioning("discriminator", conditioning, D_CONDITIONINGS, num_classes)
        check_norm(norm)
        widths = _widths(design, image_size, base_width)
        self.image_size = image_size
        self.channels = channels
        self.num_classes = num_classes
        self.design = design
        self.pack = pack
        self.conditioning = conditioning
        label_maps = num_classes if conditioning == "concat" else 0
        layers = downsampling((channels + label_maps) * pack, widths, norm)
        if minibatch_std:
            layers.append(MinibatchStdDev())
        self.body = nn.Sequential(*layers)
        last = widths[-1] + int(minibatch_std)
        if design == "radford":
            self.head: nn.Module = nn.Sequential(nn.Conv2d(last, 1, 4, 1, 0), nn.Flatten())
        else:
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(last * 4 * 4, 1))
        if conditioning == "projection":
            self.embed = nn.Linear(num_classes * pack, last * 4 * 4, bias=False)
        if init_weights:
            self.apply(init_normal_weights)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        if self.conditioning == "projection":
            features = self.body(x)
            return self.head(features).squeeze(1) + projection(self.embed, features, condition)
        if condition is not None:
            x = with_condition_maps(x, condition)
        return self.head(self.body(x)).squeeze(1)
