"""The smallest complete variant: subclass it to add your own GAN (docs/pages/add-your-own-gan.md),
or copy this file for one that differs more.

A variant owns its networks and says what D's and G's losses are; the shared step
(``models/adversarial.py``) does the rest: optimizers, the D/G alternation, clipping, the
non-finite guard, logging, checkpoints, AMP and DDP. Train it with
``python -m gan_lightning model=template`` (``conf/model/template.yaml``). ``sample`` and
``evaluate`` run the checkpoints of a subclass as this class's; a copy needs its own line in
``gan_lightning/inference.py``'s ``VARIANTS``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.generation import generate_in_eval_mode, real_images
from gan_lightning.losses import AdversarialLoss
from gan_lightning.models.adversarial import AdversarialModule, TrainingOptions
from gan_lightning.sizes import PositiveInt


class TemplateGAN(AdversarialModule):
    """An unconditional GAN: G maps N(0, I) noise to images, D scores images with a logit."""

    latent_distribution = "normal"  # read by sampling.latent_settings, recorded in checkpoints

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: AdversarialLoss,
        training: TrainingOptions,
        latent_dim: PositiveInt = 64,
    ) -> None:
        super().__init__(loss, training)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.save_settings()
        # a buffer, so grids stay comparable across epochs and resumes
        self.register_buffer("fixed_noise", torch.randn(64, latent_dim))

    def noise(self, n: int) -> Tensor:
        return torch.randn(n, self.latent_dim, device=self.device)

    def critic(self, images: Tensor) -> Tensor:
        """D's logits on what D sees of the images (the configured augmentation)."""
        return self.discriminator(self.augmented(images))

    def discriminator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        real = real_images(batch)
        with torch.no_grad():  # D's update trains D only
            fake = self.generator(self.noise(real.shape[0]))
        real_logits, fake_logits = self.judge(self.critic, real, fake)
        scores = {
            "d_real": self.loss.score(real_logits.detach()).mean(),
            "d_fake": self.loss.score(fake_logits.detach()).mean(),
        }
        return self.loss.discriminator(real_logits, fake_logits), scores

    def generator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        fake = self.generator(self.noise(real_images(batch).shape[0]))
        return self.loss.generator(self.critic(fake)), {}

    def grid_images(self) -> dict[str, tuple[Tensor, int]]:
        return {"samples": (generate_in_eval_mode(self.generator, self.fixed_noise), 8)}
