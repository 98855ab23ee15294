"""Config interpolations beyond plain references, registered when the package is imported.

``${sum:${data.in_channels},${data.out_channels}}``: pix2pix's discriminator judges the
(input, output) pair stacked along channels, so its width is the sum of the data's two.
"""

from __future__ import annotations

from omegaconf import OmegaConf


def register() -> None:
    if not OmegaConf.has_resolver("sum"):
        OmegaConf.register_new_resolver("sum", lambda *values: sum(values))
