"""What a checkpoint carries besides weights and optimizer states: the writing version, the run
config (so inference rebuilds the networks without unpickled code), the step's counters and
every random-number generator, so a resumed run draws what the uninterrupted run would have."""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl

from gan_lightning import __version__
from gan_lightning.errors import UserError
from gan_lightning.rng import collect_rng_state, gather_rng_states, restore_rng_state, seed_for_rank
from gan_lightning.sampling import latent_settings

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "gan_lightning"
# Version series whose checkpoints this version reads (older run configs are upgraded by
# ``renamed.upgrade_config``).
READABLE_SERIES = {("0", "1"), ("0", "2")}


def variant_bases(variant: type) -> list[str]:
    """The names of a variant's base classes, nearest first, up to ``AdversarialModule``."""
    names = []
    for base in variant.__mro__[1:]:
        names.append(base.__name__)
        if base.__name__ == "AdversarialModule":
            break
    return names


def variant_family(extras: dict[str, Any]) -> list[str]:
    """The variant a checkpoint records, then its base classes (older checkpoints: the variant
    alone), for readers that accept a subclass wherever they accept its base."""
    return [str(extras.get("variant")), *extras.get("variant_bases", [])]


class CheckpointState:
    """Saved by ``on_save_checkpoint``, restored by ``on_load_checkpoint`` of the module."""

    def __init__(self) -> None:
        self.rank_rng: tuple[int | None, list] = (None, [])  # (step, every rank's RNG state)

    def gather_rank_rng(self, step: int) -> None:
        """At an epoch's end every rank is in step: gather their RNG states now rather than
        inside the save, which may also run from an interruption, ranks out of step."""
        self.rank_rng = (step, gather_rng_states(collect_rng_state()))

    def save(self, module: Any) -> dict[str, Any]:
        step, gathered = self.rank_rng
        averages = module.averages
        return {
            "version": __version__,
            "variant": type(module).__name__,
            # a variant defined outside the package is run as the nearest one inside it
            "variant_bases": variant_bases(type(module)),
            "latent": latent_settings(module),  # what sample and evaluate feed its G
            "config": module.run_config,
            "d_updates_since_g": module.d_updates_since_g,
            "skipped_updates": module.guard.skipped_updates,
            "rng": collect_rng_state(),  # rank 0's: it alone writes the file
            # mid-epoch (an interruption) only this rank's is known; a resume re-derives the rest
            "rng_per_rank": gathered if step == module.global_step else [],
            # the batches the average of G re-estimates its BatchNorm statistics from
            "generator_inputs": averages.recorded_inputs() if averages is not None else {},
        }

    def restore(self, module: Any, checkpoint: dict[str, Any], trainer: pl.Trainer | None) -> None:
        extras = checkpoint.get(CHECKPOINT_KEY, {})
        check_version(extras.get("version"), "checkpoint")
        module.d_updates_since_g = int(extras.get("d_updates_since_g", 0))
        module.guard.skipped_updates = int(extras.get("skipped_updates", 0))
        if module.averages is not None:
            module.averages.restore_inputs(extras.get("generator_inputs", {}))
        # resuming restores the RNGs; a plain load leaves the caller's alone
        if trainer is not None and trainer.state.fn == "fit":
            step, epoch = checkpoint.get("global_step"), checkpoint.get("epoch")
            # metrics.csv's "step" counts batches, each one D and one G update (more with d_steps)
            log.info("resuming at step %s (optimizer steps; epoch %s)", step, epoch)
            if "rng" in extras:
                restore_rng(extras, trainer.global_rank, trainer.world_size)


def restore_rng(extras: dict[str, Any], rank: int, world_size: int) -> None:
    per_rank = extras.get("rng_per_rank") or []
    if len(per_rank) == world_size:
        restore_rng_state(per_rank[rank])
        return
    restore_rng_state(extras["rng"])  # rank 0's state; other world sizes cannot be exact
    if world_size > 1:
        seed_for_rank(rank)  # distinct streams, derived from the restored state


def version_series(version: str) -> tuple[str, ...]:
    parts = version.split(".")
    return tuple(parts[:2]) if parts[0] == "0" else (parts[0],)


def check_version(saved: str | None, what: str) -> None:
    """Checkpoints of another major version (minor, while at 0.x) may not load: say so."""
    if saved is None:
        raise UserError(f"the {what} records no gan-lightning version; it was not written by it")
    if version_series(saved) not in READABLE_SERIES | {version_series(__version__)}:
        series = ".".join(version_series(saved))
        raise UserError(
            f"the {what} was written by gan-lightning {saved}, which is incompatible with this "
            f"version ({__version__}); use gan-lightning {series}.x to load it"
        )
