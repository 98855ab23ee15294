"""GAN on 2-D points: the mode-collapse test bed (data=ring, data=grid)."""

from __future__ import annotations

from torch import Tensor

from gan_lightning.generation import generate_in_eval_mode
from gan_lightning.models.gan import GAN
from gan_lightning.plots import FAKE_COLOUR, REAL_COLOUR, scatter_image
from gan_lightning.training.lightning_adapter import attached_trainer


class PointGAN(GAN):
    """The unconditional GAN; its "sample grid" is a scatter plot of real vs generated points.

    The fixed noise (``num_grid_samples``: 2,500 in conf/model/gan2d.yaml, as in the papers'
    figures) makes the plots of successive epochs comparable.
    """

    data_kind = "points"  # checked against the data module before anything is built

    def grid_images(self) -> dict[str, tuple[Tensor, int]]:
        fake = generate_in_eval_mode(self.generator, self.fixed_noise).float().cpu()
        layers = []
        datamodule = getattr(attached_trainer(self), "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "centers"):
            real, _ = datamodule.sample(fake.shape[0], seed=1)
            layers.append((real, REAL_COLOUR))
            extent = float(datamodule.centers.abs().max()) * 1.5
        else:
            extent = max(float(fake.abs().max()), 1e-3) * 1.1
        layers.append((fake, FAKE_COLOUR))
        return {"samples": (scatter_image(layers, extent).unsqueeze(0), 1)}
