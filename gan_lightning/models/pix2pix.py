"""Pix2Pix (Isola et al. 2017): paired image-to-image translation, a conditional GAN on images.

D judges the (input, output) pair, concatenated along channels, so it learns whether the output
fits *this* input rather than whether it looks like any target. G minimises the adversarial loss
plus ``lambda_l1`` x L1 to the target: L1 gets the low frequencies right, the PatchGAN the
texture. G takes no latent: dropout is its noise.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.errors import UserError
from gan_lightning.generation import as_channels, generate_in_eval_mode
from gan_lightning.losses import AdversarialLoss
from gan_lightning.models.adversarial import AdversarialModule, TrainingOptions
from gan_lightning.models.preview import PreviewPairs
from gan_lightning.sizes import PositiveInt


class Pix2Pix(AdversarialModule):
    """Batches are ``(inputs, targets)`` from a paired data module (``data_kind = "paired"``).

    D's loss is halved, as in the paper, to slow D relative to G. As in every variant of the
    shared step, D's fakes are made afresh (without gradients) rather than reused by G's
    update: one more G forward pass per batch, and BatchNorm statistics see two passes.
    """

    data_kind = "paired"

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: AdversarialLoss,
        training: TrainingOptions,
        lambda_l1: float = 100.0,
        num_grid_images: PositiveInt = 8,
    ) -> None:
        super().__init__(loss, training)
        if lambda_l1 < 0:
            raise ValueError(f"lambda_l1 must be >= 0, got {lambda_l1}")
        pair = getattr(generator, "in_channels", None), getattr(generator, "out_channels", None)
        judged = getattr(discriminator, "in_channels", None)
        if None not in (*pair, judged) and judged != sum(pair):
            raise ValueError(
                f"the discriminator takes {judged} channels, but an (input, output) pair has "
                f"{pair[0]} + {pair[1]}; set model.discriminator.in_channels: "
                "${sum:${data.in_channels},${data.out_channels}}"
            )
        self.generator = generator
        self.discriminator = discriminator
        self.lambda_l1 = lambda_l1
        self.preview = PreviewPairs(num_grid_images)  # held-out (inputs, targets) for the grids
        self.save_settings()

    def forward(self, inputs: Tensor) -> Tensor:
        return self.generator(inputs)

    def translators(self) -> dict[str, nn.Module]:
        return {"AtoB": self.generator}

    @staticmethod
    def _split(batch: Any) -> tuple[Tensor, Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise UserError(
                "Pix2Pix needs batches of (input images, target images); use a paired data set: "
                "data=facades, data=paired data.root=DIR, data=colorize or data=edges2digits"
            )
        inputs, targets = batch
        if inputs.shape[-2:] != targets.shape[-2:]:
            raise UserError(
                f"inputs are {tuple(inputs.shape[-2:])} but targets {tuple(targets.shape[-2:])}: "
                "a paired data set must give both at one size"
            )
        return inputs, targets

    def discriminate(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """D's logits on (input, output) pairs, both augmented by one draw."""
        return self.discriminator(torch.cat(self.augmented(inputs, outputs), dim=1))

    def discriminator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        inputs, targets = self._split(batch)
        with torch.no_grad():
            fakes = self.generator(inputs)
        if fakes.shape != targets.shape:
            raise UserError(
                f"the generator makes {tuple(fakes.shape[1:])} from the inputs but the targets "
                f"are {tuple(targets.shape[1:])}; take model.generator's channels and "
                "image_size from the data group (${data.in_channels}, ${data.out_channels}, "
                "${data.image_size})"
            )
        real_logits, fake_logits = self.judge(
            lambda outputs: self.discriminate(inputs, outputs), targets, fakes
        )
        loss = 0.5 * self.loss.discriminator(real_logits, fake_logits)
        return loss, {
            "d_real": self.loss.score(real_logits.detach()).mean(),
            "d_fake": self.loss.score(fake_logits.detach()).mean(),
        }

    def generator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        inputs, targets = self._split(batch)
        fakes = self.generator(inputs)
        adversarial = self.loss.generator(self.discriminate(inputs, fakes))
        l1 = F.l1_loss(fakes, targets)
        loss = adversarial + self.lambda_l1 * l1
        return loss, {"g_adversarial": adversarial.detach(), "l1": l1.detach()}

    # --- sample grids -----------------------------------------------------------------------------
    def on_train_start(self) -> None:
        self.preview.take_from_data(getattr(self.trainer, "datamodule", None), self.device)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.preview.keep_if_missing(*self._split(batch))

    def grid_images(self) -> dict[str, tuple[Tensor, int]]:
        """Rows of input | output | target."""
        inputs, targets = self.preview.first, self.preview.second
        if inputs is None or targets is None:
            return {}
        outputs = generate_in_eval_mode(self.generator, inputs)
        channels = max(outputs.shape[1], inputs.shape[1])
        triple = [as_channels(t, channels) for t in (inputs, outputs, targets)]
        return {"samples": (torch.stack(triple, dim=1).flatten(0, 1), 3)}
