"""CycleGAN (Zhu et al. 2017): unpaired translation between two image domains A and B.

Two generators (G: A -> B as ``generator_ab``, F: B -> A as ``generator_ba``) and two
discriminators (D_A judges domain A, D_B domain B) play two games at once, tied together by
cycle consistency: F(G(a)) should give back a, and G(F(b)) give back b. Both generators share
one optimizer and both discriminators another, so the shared adversarial step of
``adversarial.py`` runs them unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import chain
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.errors import UserError
from gan_lightning.generation import generate_in_eval_mode
from gan_lightning.losses import AdversarialLoss
from gan_lightning.models.adversarial import CHECKPOINT_KEY, AdversarialModule, TrainingOptions
from gan_lightning.models.image_pool import ImagePool
from gan_lightning.models.preview import PreviewPairs
from gan_lightning.sizes import PositiveInt

log = logging.getLogger(__name__)


class CycleGAN(AdversarialModule):
    """Batches are ``(images_a, images_b)`` from an unpaired data module.

    G's objective: LSGAN(D_B(G(a))) + LSGAN(D_A(F(b))) + lambda_cycle * (|F(G(a)) - a| +
    |G(F(b)) - b|) + lambda_cycle * lambda_identity * (|G(b) - b| + |F(a) - a|). Each D's loss
    is halved, as in the paper, to slow D relative to G. D sees fakes through an image pool.
    """

    data_kind = "unpaired"  # checked against the data module before anything is built

    def __init__(
        self,
        generator_ab: nn.Module,
        generator_ba: nn.Module,
        discriminator_a: nn.Module,
        discriminator_b: nn.Module,
        loss: AdversarialLoss,
        training: TrainingOptions,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        num_grid_images: PositiveInt = 4,
    ) -> None:
        super().__init__(loss, training)
        if lambda_cycle < 0 or lambda_identity < 0:
            raise ValueError("lambda_cycle and lambda_identity must be >= 0")
        a_in = getattr(generator_ab, "in_channels", None)
        b_in = getattr(generator_ba, "in_channels", None)
        if lambda_identity > 0 and a_in is not None and a_in != b_in:
            raise ValueError(
                f"the identity loss feeds B images to G: A -> B, but the domains have {a_in} and "
                f"{b_in} channels; set model.lambda_identity=0"
            )
        self.generator_ab = generator_ab
        self.generator_ba = generator_ba
        self.discriminator_a = discriminator_a
        self.discriminator_b = discriminator_b
        self.lambda_cycle = lambda_cycle
        self.lambda_identity = lambda_identity
        self.pool_a = ImagePool(pool_size)  # fakes of domain A, i.e. F(b), for D_A
        self.pool_b = ImagePool(pool_size)
        self.preview = PreviewPairs(num_grid_images)  # test images (A, B) for the grids
        self.save_settings()

    def forward(self, images_a: Tensor) -> Tensor:
        """Translate A -> B."""
        return self.generator_ab(images_a)

    def generators(self) -> dict[str, nn.Module]:
        return {"generator_ab": self.generator_ab, "generator_ba": self.generator_ba}

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        return chain(self.discriminator_a.parameters(), self.discriminator_b.parameters())

    def translators(self) -> dict[str, nn.Module]:
        """Direction name -> generator, for evaluation."""
        return {"AtoB": self.generator_ab, "BtoA": self.generator_ba}

    @staticmethod
    def _split(batch: Any) -> tuple[Tensor, Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise UserError(
                "CycleGAN needs batches of (domain A images, domain B images); use an unpaired "
                "data set: data=summer2winter or data=unpaired data.root=DIR"
            )
        return batch[0], batch[1]

    def critic_a(self, images: Tensor) -> Tensor:
        return self.discriminator_a(self.augmented(images))

    def critic_b(self, images: Tensor) -> Tensor:
        return self.discriminator_b(self.augmented(images))

    def discriminator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        real_a, real_b = self._split(batch)
        with torch.no_grad():
            fake_b = self.pool_b.query(self.generator_ab(real_a))
            fake_a = self.pool_a.query(self.generator_ba(real_b))
        logits = {}
        logits["a_real"], logits["a_fake"] = self.judge(self.critic_a, real_a, fake_a)
        logits["b_real"], logits["b_fake"] = self.judge(self.critic_b, real_b, fake_b)
        loss_a = self.loss.discriminator(logits["a_real"], logits["a_fake"])
        loss_b = self.loss.discriminator(logits["b_real"], logits["b_fake"])
        scores = {f"d_{k}": self.loss.score(v.detach()).mean() for k, v in logits.items()}
        logs = {"d_a_loss": loss_a.detach(), "d_b_loss": loss_b.detach(), **scores}
        return 0.5 * (loss_a + loss_b), logs

    def generator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        real_a, real_b = self._split(batch)
        fake_b = self.generator_ab(real_a)
        fake_a = self.generator_ba(real_b)
        adversarial = self.loss.generator(self.critic_b(fake_b)) + self.loss.generator(
            self.critic_a(fake_a)
        )
        cycle_a = F.l1_loss(self.generator_ba(fake_b), real_a)
        cycle_b = F.l1_loss(self.generator_ab(fake_a), real_b)
        loss = adversarial + self.lambda_cycle * (cycle_a + cycle_b)
        logs = {"g_adversarial": adversarial.detach(), "cycle_a": cycle_a.detach()}
        logs["cycle_b"] = cycle_b.detach()
        logs["cycle_loss"] = logs["cycle_a"] + logs["cycle_b"]
        if self.lambda_identity > 0:
            identity = F.l1_loss(self.generator_ab(real_b), real_b) + F.l1_loss(
                self.generator_ba(real_a), real_a
            )
            loss = loss + self.lambda_cycle * self.lambda_identity * identity
            logs["identity_loss"] = identity.detach()
        return loss, logs

    # --- sample grids -----------------------------------------------------------------------------
    def on_train_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        batch_norm = any(isinstance(m, nn.BatchNorm2d) for m in self.generator_ab.modules())
        if batch_norm and getattr(datamodule, "batch_size", 2) == 1:
            log.warning(
                "BatchNorm with batch_size=1: eval-mode outputs (grids, translate) use running "
                "statistics unlike training's; set model.generator_ab.norm=instance (the paper's)"
            )
        self.preview.take_from_data(datamodule, self.device)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.preview.keep_if_missing(*self._split(batch))

    def grid_images(self) -> dict[str, tuple[Tensor, int]]:
        """Rows of input | translation | reconstruction for each direction."""
        grids = {}
        for name, images, forward, backward in (
            ("A_to_B", self.preview.first, self.generator_ab, self.generator_ba),
            ("B_to_A", self.preview.second, self.generator_ba, self.generator_ab),
        ):
            if images is None:
                continue
            translated = generate_in_eval_mode(forward, images)
            restored = generate_in_eval_mode(backward, translated)
            triple = [images, translated, restored]
            if len({t.shape[1] for t in triple}) > 1:  # grey and colour domains: show all in RGB
                triple = [t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t for t in triple]
            rows = torch.stack(triple, dim=1).flatten(0, 1)
            grids[name] = (rows, 3)
        return grids

    # --- checkpoint extras: the pools are training state ------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[CHECKPOINT_KEY]["image_pools"] = {
            "a": self.pool_a.state_dict(),
            "b": self.pool_b.state_dict(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        pools = checkpoint.get(CHECKPOINT_KEY, {}).get("image_pools")
        if pools:
            self.pool_a.load_state_dict(pools["a"])
            self.pool_b.load_state_dict(pools["b"])
