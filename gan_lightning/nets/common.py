"""Initialisation and normalisation choices shared by the convolutional networks."""

from __future__ import annotations

from torch import nn

NORMS = ("batch", "instance", "none")


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


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """BatchNorm, InstanceNorm (no affine, no running stats: the CycleGAN paper's) or identity."""
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels)
    return nn.Identity()


def conv_bias(norm: str) -> bool:
    """A bias before BatchNorm is cancelled by its mean subtraction; elsewhere it is needed."""
    return norm != "batch"
