"""Unconditional GAN: any generator z -> image and discriminator image -> logit."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.errors import UserError
from gan_lightning.generation import generate_in_eval_mode, real_images
from gan_lightning.latent import sample_latent
from gan_lightning.losses import AdversarialLoss
from gan_lightning.models.adversarial import AdversarialModule, TrainingOptions
from gan_lightning.nets.layers import pack_samples
from gan_lightning.sizes import PositiveInt


class GAN(AdversarialModule):
    """The networks are injected, so the same module trains the MLP and the DCGAN families.

    ``pack=m`` is PacGAN (Lin et al. 2018): D judges m samples at once, real with real and fake
    with fake, which penalises a generator whose samples look alike.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: AdversarialLoss,
        training: TrainingOptions,
        latent_dim: PositiveInt = 100,
        latent_distribution: str = "normal",
        num_grid_samples: PositiveInt = 64,
        pack: PositiveInt = 1,
    ) -> None:
        super().__init__(loss, training)
        d_pack = getattr(discriminator, "pack", 1)
        if d_pack != pack:
            raise ValueError(
                f"model.pack={pack} but the discriminator takes packs of {d_pack}; "
                "set model.discriminator.pack: ${model.pack}"
            )
        generator_latent = getattr(generator, "latent_dim", latent_dim)
        if generator_latent != latent_dim:
            raise ValueError(
                f"latent_dim={latent_dim} but the generator expects {generator_latent}; "
                "set model.generator.latent_dim: ${model.latent_dim}"
            )
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.latent_distribution = latent_distribution
        self.pack = pack
        self.save_settings()
        # Fixed noise lives in the state dict: grids stay comparable across epochs and resumes.
        self.register_buffer(
            "fixed_noise", sample_latent(num_grid_samples, latent_dim, latent_distribution)
        )

    def forward(self, z: Tensor, *conditioning: Tensor) -> Tensor:
        return self.generator(z, *conditioning)

    def conditioning(self, batch: Any) -> tuple[Tensor, ...]:
        """Extra inputs of both networks for this batch: none for the unconditional GAN."""
        return ()

    def discriminate(self, x: Tensor, *condition: Tensor) -> Tensor:
        """D's logits on the augmented images; with ``pack=m`` one logit per group of m
        samples (PacGAN)."""
        return self.discriminator(
            pack_samples(self.augmented(x), self.pack),
            *(pack_samples(c, self.pack) for c in condition),
        )

    def sample_latent(self, n: int) -> Tensor:
        return sample_latent(n, self.latent_dim, self.latent_distribution, device=self.device)

    def sample(self, n: int) -> Tensor:
        """``n`` images in [-1, 1] from G in eval mode."""
        return generate_in_eval_mode(self.generator, self.sample_latent(n))

    def discriminator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        real, condition = real_images(batch), self.conditioning(batch)
        with torch.no_grad():
            fake = self.generator(self.sample_latent(real.shape[0]), *condition)
        if fake.shape[1:] != real.shape[1:]:
            raise UserError(
                f"the generator makes images of shape {tuple(fake.shape[1:])} but the data are "
                f"{tuple(real.shape[1:])}; let the model take channels and image_size from the "
                "data group (${data.channels}, ${data.image_size}) or set data.channels / "
                "data.image_size (grey and RGB are converted by the data modules)"
            )
        real_logits, fake_logits = self.judge(
            lambda x: self.discriminate(x, *condition), real, fake
        )
        loss = self.loss.discriminator(real_logits, fake_logits)
        return loss, {
            "d_real": self.loss.score(real_logits.detach()).mean(),
            "d_fake": self.loss.score(fake_logits.detach()).mean(),
        }

    def generator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        condition = self.conditioning(batch)
        fake = self.generator(self.sample_latent(real_images(batch).shape[0]), *condition)
        return self.loss.generator(self.discriminate(fake, *condition)), {}

    def grid_images(self) -> dict[str, tuple[Tensor, int]]:
        images = generate_in_eval_mode(self.generator, self.fixed_noise)
        return {"samples": (images, 8)}
