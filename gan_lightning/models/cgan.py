"""Conditional GAN (Mirza & Osindero 2014): G and D both see the one-hot class label."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.generation import generate_in_eval_mode
from gan_lightning.losses import AdversarialLoss
from gan_lightning.models.adversarial import TrainingOptions
from gan_lightning.models.gan import GAN
from gan_lightning.sizes import PositiveInt


class ConditionalGAN(GAN):
    """Fakes are drawn for the labels of the real batch, so D always compares like with like.

    The networks take the one-hot label as their second input (see ``nets/mlp.py`` and
    ``nets/dcgan.py``). Sample grids have one row per class.
    """

    requires_labels = True  # checked against data.num_classes before anything is built

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: AdversarialLoss,
        training: TrainingOptions,
        num_classes: PositiveInt | None,
        latent_dim: PositiveInt = 100,
        latent_distribution: str = "normal",
        samples_per_class: PositiveInt = 8,
        pack: PositiveInt = 1,
    ) -> None:
        if not num_classes:
            raise ValueError(
                "the conditional GAN needs class labels, but this data set has none "
                "(data.num_classes is null); use a labelled set such as data=mnist, digits or svhn"
            )
        for name, net in (("generator", generator), ("discriminator", discriminator)):
            if getattr(net, "num_classes", num_classes) != num_classes:
                raise ValueError(
                    f"the {name} was built for {net.num_classes} classes, the data has "
                    f"{num_classes}; set model.{name}.num_classes: ${{model.num_classes}}"
                )
        super().__init__(
            generator,
            discriminator,
            loss,
            training,
            latent_dim=latent_dim,
            latent_distribution=latent_distribution,
            num_grid_samples=num_classes * samples_per_class,
            pack=pack,
        )
        self.num_classes = num_classes
        self.samples_per_class = samples_per_class
        self.register_buffer(
            "fixed_labels", torch.arange(num_classes).repeat_interleave(samples_per_class)
        )

    def check_labels(self, labels: Tensor) -> None:
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f"labels must be in [0, {self.num_classes}), got {labels.min()}..{labels.max()}"
            )

    def one_hot(self, labels: Tensor, check: bool = True) -> Tensor:
        if check:
            self.check_labels(labels)
        return F.one_hot(labels.long(), self.num_classes).float()

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        # training labels are checked here, on the host copy: checked in the step, on a GPU,
        # they would wait for every queued kernel twice per update
        self.check_labels(batch[1])
        return batch

    def conditioning(self, batch: Any) -> tuple[Tensor, ...]:
        return (self.one_hot(batch[1], check=False),)  # checked by on_before_batch_transfer

    def sample(self, n: int, labels: Tensor | None = None) -> Tensor:
        """``n`` images of the given classes (uniformly random classes when ``labels`` is None)."""
        if labels is None:
            labels = torch.randint(0, self.num_classes, (n,), device=self.device)
        labels = torch.as_tensor(labels, device=self.device)
        if labels.shape != (n,):
            raise ValueError(f"need {n} labels, got shape {tuple(labels.shape)}")
        return generate_in_eval_mode(self.generator, self.sample_latent(n), self.one_hot(labels))

    def grid_images(self) -> dict[str, tuple[Tensor, int]]:
        images = generate_in_eval_mode(
            self.generator, self.fixed_noise, self.one_hot(self.fixed_labels)
        )
        return {"samples": (images, self.samples_per_class)}
