"""Which command runs a checkpoint, and how: one table of model variants for ``sample``,
``translate`` and ``evaluate``, keyed by the variant a checkpoint records
(``checkpoint["gan_lightning"]["variant"]``, or the nearest of its base classes), so a new
variant is one line here and every command refuses the variants it does not run in one line that
names the command that does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig
from torch import nn

from gan_lightning.checkpoints import CHECKPOINT_KEY, load_checkpoint, networks_from
from gan_lightning.errors import UserError
from gan_lightning.training.checkpoint_state import variant_family


class Inference(NamedTuple):
    command: str  # the command that runs the variant's checkpoints: sample or translate
    kind: str  # how it runs them: the key of that command's handlers


LATENT, TEXT, UNPAIRED, PAIRED = "latent", "text", "unpaired", "paired"
VARIANTS: dict[str, Inference] = {
    "GAN": Inference("sample", LATENT),
    "ConditionalGAN": Inference("sample", LATENT),
    "PointGAN": Inference("sample", LATENT),
    "TemplateGAN": Inference("sample", LATENT),
    "StackGAN": Inference("sample", TEXT),
    "CycleGAN": Inference("translate", UNPAIRED),
    "Pix2Pix": Inference("translate", PAIRED),
}
# CycleGAN's translation directions -> its generators
CYCLE_GENERATORS = {"AtoB": "generator_ab", "BtoA": "generator_ba"}
_USE_INSTEAD = {
    "sample": "is not an image-to-image model; draw samples with python -m gan_lightning.sample",
    "translate": "is an image-to-image model: use python -m gan_lightning.translate",
}


@dataclass(frozen=True)
class StoredRun:
    """A checkpoint read once for a command: what gan-lightning recorded in it (``extras``:
    variant, run config, latent settings, ...) and its networks."""

    path: str
    checkpoint: dict[str, Any]

    @classmethod
    def read(cls, path: str | Path) -> StoredRun:
        """A file that is not a gan-lightning checkpoint is one line."""
        return cls(str(path), load_checkpoint(path))

    @property
    def extras(self) -> dict[str, Any]:
        return self.checkpoint[CHECKPOINT_KEY]

    def networks(
        self, names: list[str] | None = None, ema: bool = True
    ) -> tuple[dict[str, nn.Module], DictConfig]:
        """``checkpoints.load_networks`` without reading the file again."""
        return networks_from(self.checkpoint, names, ema, self.path)


def known_variant(extras: dict[str, Any]) -> Inference | None:
    """How to run the checkpoint's variant or, for a class of the user's own, its nearest base
    class in ``VARIANTS`` (a subclass of ``TemplateGAN`` samples as one); None: neither."""
    for name in variant_family(extras):
        if name in VARIANTS:
            return VARIANTS[name]
    return None


def variant_kind(extras: dict[str, Any]) -> str | None:
    """The kind of the checkpoint's variant (LATENT, TEXT, UNPAIRED, PAIRED); None: unknown."""
    use = known_variant(extras)
    return None if use is None else use.kind


def unknown_variant(path: str | Path, extras: dict[str, Any]) -> UserError:
    return UserError(
        f"{path} is a {extras.get('variant')} checkpoint; sample, translate and evaluate run "
        f"{', '.join(VARIANTS)} checkpoints and those of their subclasses"
    )


def inference_kind(command: str, path: str | Path, extras: dict[str, Any]) -> str:
    """The kind ``command`` runs the checkpoint at ``path`` as; one line when it does not."""
    use = known_variant(extras)
    if use is None:
        raise unknown_variant(path, extras)
    if use.command != command:
        raise UserError(f"{path} {_USE_INSTEAD[use.command]}")
    return use.kind


def inference_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
