"""What the networks share: init, norm and activation choice, conv blocks, width schedules, checks.

Kept in one place so that a design fix (an init, a bias rule, a width cap) reaches every network
and every network rejects a bad knob with the same kind of message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from itertools import pairwise

from torch import nn
from torch.nn.utils import parametrizations

from gan_lightning.renamed import renamed_value

NORMS = ("batch", "instance", "none")
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "relu": nn.ReLU,
}
MAX_WIDTH_MULTIPLIER = 8
SPECTRAL_NORM_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)


def init_normal_weights(module: nn.Module) -> None:
    """For ``net.apply``: conv/linear weights N(0, 0.02), norm scales N(1, 0.02), biases zero.

    The init of DCGAN (Radford et al. 2016), which CycleGAN and pix2pix kept.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def apply_spectral_norm(net: nn.Module) -> None:
    """Spectral normalisation (Miyato et al. 2018) on every Conv/Linear/Embedding weight of ``net``.

    What the discriminators' ``spectral_norm=True`` does, after their weight init (so the init is
    the same with the option on or off). Each weight W is used as W / sigma(W), sigma the largest
    singular value of W as an (out, in * kernel) matrix (for a convolution, the paper's stand-in
    for its Lipschitz constant), estimated by power iteration: 15 iterations when the option is
    applied, then one per forward in train mode (two matrix-vector products per layer, whatever
    the batch size; D's forwards in G's update count too). torch's parametrization keeps W as
    ``<layer>.parametrizations.weight.original`` and the power-iteration vectors as the buffers
    ``<layer>.parametrizations.weight.0._u`` / ``._v``, so checkpoints carry them and a resumed
    run continues the iteration exactly; checkpoints of the same net without the option do not
    load into it (other keys). In eval mode the vectors are not updated. Under DDP they are the
    same on every rank: they start equal (DDP copies rank 0's parameters and buffers to every
    rank, and by default its buffers again at each training step) and are updated from the same,
    all-reduced weights, whatever each rank's batch.

    Norm layers are left as configured (SN acts on weights only): each discriminator follows
    its ``norm``, BatchNorm by default. SN-GAN's discriminators have no norm layer; BatchNorm's
    division by the batch spread can undo the per-layer bound, so for the paper's setting use a
    norm-free D (``norm=none``: DCGAN, PatchGAN, StackGAN).
    """
    layers = [m for m in net.modules() if isinstance(m, SPECTRAL_NORM_LAYERS)]
    for layer in layers:  # listed first: the parametrization adds submodules to each layer
        parametrizations.spectral_norm(layer)


def check_choice(what: str, value: object, allowed: Collection[object], context: str = "") -> None:
    """A bad choice fails when the network is built, naming the allowed values."""
    if value not in allowed:
        options = ", ".join(str(option) for option in allowed)
        raise ValueError(f"{what} must be one of {options}{context}, got {value!r}")


def check_at_least(what: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")


def chosen_design(design: str, designs: Collection[str]) -> str:
    """The design's current name (an old spelling still works, with a deprecation line)."""
    design = renamed_value("design", design)
    check_choice("design", design, designs)
    return design


def check_norm(norm: str) -> None:
    check_choice("norm", norm, NORMS)


def check_multiple(image_size: int, multiple: int, name: str, hint: str) -> None:
    """Strided layers need sizes they divide: fail when the net is built, not at the first batch."""
    if image_size % multiple:
        raise ValueError(f"image_size={image_size} is not a multiple of {name}; {hint}")


def halvings(size: int, smallest: int) -> int | None:
    """How many halvings take ``size`` down to ``smallest``; None when no whole number does."""
    if size < smallest:
        return None
    steps = math.log2(size / smallest)
    return int(steps) if steps == int(steps) else None


def doubling_widths(
    base_width: int, count: int, cap: int | None = MAX_WIDTH_MULTIPLIER
) -> list[int]:
    """``count`` widths from the image inwards, doubling per level from ``base_width``.

    Capped at ``cap`` times ``base_width`` (DCGAN's and pix2pix's 8x) so the innermost layers of
    deep nets stay affordable; StackGAN's nets are shallow and uncapped (``cap=None``).
    """
    return [base_width * (2**i if cap is None else min(2**i, cap)) for i in range(count)]


def norm_layer(norm: str, channels: int) -> nn.Module:
    """BatchNorm, InstanceNorm (no affine, no running stats: the CycleGAN paper's) or identity."""
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels)
    return nn.Identity()


def conv_bias(norm: str) -> bool:
    """A bias before BatchNorm is cancelled by its mean subtraction. Before InstanceNorm it is
    cancelled too (and gets no gradient), but PatchGAN's checkpoints hold it: it stays."""
    return norm != "batch"


def conv_block(
    w_in: int,
    w_out: int,
    kernel: int,
    stride: int,
    padding: int,
    norm: str | None = "batch",
    activation: str | None = "relu",
    transpose: bool = False,
    **conv_options: object,
) -> list[nn.Module]:
    """[Conv or ConvTranspose -> norm -> activation], the unit every conv net here stacks.

    ``norm=None`` leaves the norm layer out (and keeps the bias), as on a discriminator's first
    layer; ``norm="none"`` keeps an identity in its place, so that state_dict indices do not
    depend on the norm. ``activation=None`` ends the block at the norm (a residual branch).
    """
    conv = nn.ConvTranspose2d if transpose else nn.Conv2d
    bias = norm is None or conv_bias(norm)
    layers = [conv(w_in, w_out, kernel, stride, padding, bias=bias, **conv_options)]
    if norm is not None:
        layers.append(norm_layer(norm, w_out))
    if activation is not None:
        layers.append(ACTIVATIONS[activation]())
    return layers


def downsampling(
    in_channels: int,
    widths: Sequence[int],
    norm: str = "batch",
    activation: str = "leaky_relu",
    last_stride: int = 2,
) -> list[nn.Module]:
    """Conv 4x4 s2 -> activation, then [Conv 4x4 s2 -> norm -> activation] to each further width.

    The image path of the DCGAN, PatchGAN and StackGAN discriminators; no norm on the first layer
    (Radford et al.: it destabilised D). ``last_stride=1`` is the 70x70 PatchGAN's last layer.
    """
    layers = conv_block(in_channels, widths[0], 4, 2, 1, norm=None, activation=activation)
    for index, (w_in, w_out) in enumerate(pairwise(widths), 1):
        stride = last_stride if index == len(widths) - 1 else 2
        layers += conv_block(w_in, w_out, 4, stride, 1, norm, activation)
    return layers


D_CONDITIONINGS = ("concat", "projection")
G_CONDITIONINGS = ("concat", "cbn")


def check_conditioning(
    net: str, conditioning: str, allowed: Collection[str], num_classes: int
) -> None:
    """``conditioning`` is one of ``allowed``; a non-default one needs labels (num_classes > 0)."""
    check_choice(f"model.{net}.conditioning", conditioning, allowed)
    if conditioning != "concat" and num_classes <= 0:
        raise ValueError(
            f"model.{net}.conditioning={conditioning} needs class labels (num_classes > 0): "
            "use it with a labelled data set (model=cgan, data=mnist, digits or svhn)"
        )
