"""Rebuild networks from a checkpoint without unpickling code.

Checkpoints carry the resolved run config (``checkpoint["gan_lightning"]["config"]``), so a
network is rebuilt from its ``_target_`` node and gets its weights from the state dict, loaded
with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf
from torch import nn

from gan_lightning.atomic import atomic_path
from gan_lightning.ema import AVERAGES_PREFIX, saved_averages_ready
from gan_lightning.errors import UserError
from gan_lightning.renamed import upgrade_config
from gan_lightning.training.checkpoint_state import CHECKPOINT_KEY, check_version

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to ``<name>.partial`` beside it, then renames it into place, so
    ``last.ckpt`` is never a half-written file, whatever kills the process."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as partial:
            torch.save(checkpoint, partial)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A gan-lightning checkpoint, loaded with ``weights_only=True``: no pickled code runs."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} not found") from None
    except IsADirectoryError:
        raise UserError(f"checkpoint {path} is a folder; give the .ckpt file") from None
    except pickle.UnpicklingError as error:
        code = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if code is None:  # not a torch file at all
            raise UserError(f"{path} is not a loadable checkpoint (UnpicklingError)") from None
        raise UserError(
            f"{path} refused: it holds pickled code ({code.group(1)}), not only tensors and "
            "plain values, so it is not loaded; load it with torch.load only if you trust it"
        ) from None
    except Exception as error:
        raise UserError(f"{path} is not a loadable checkpoint ({type(error).__name__})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get(CHECKPOINT_KEY), dict):
        raise UserError(f"{path} was not written by gan-lightning (it has no run config)")
    extras = checkpoint[CHECKPOINT_KEY]
    check_version(extras.get("version"), f"checkpoint {path}")
    if not extras.get("config"):
        raise UserError(f"{path} was not written by gan-lightning (it has no run config)")
    extras["config"] = upgrade_config(extras["config"])  # a 0.1 layout in today's
    return checkpoint


def resolve_resume(ckpt_path: str | None, output_dir: str | Path) -> str | None:
    """``ckpt_path`` as a file: ``last`` is this run folder's ``checkpoints/last.ckpt`` when it
    exists (else a fresh start, for jobs that are requeued into the same folder); a run folder
    means its ``checkpoints/last.ckpt`` (or its newest ``.ckpt``)."""
    if ckpt_path is None:
        return None
    if str(ckpt_path) == "last":
        last = Path(output_dir) / "checkpoints" / "last.ckpt"
        if not last.is_file():
            log.warning(
                "ckpt_path=last: no %s yet, starting fresh (resuming needs the run folder of the "
                "interrupted run: hydra.run.dir=...)",
                last,
            )
            return None
        return str(last)
    path = Path(ckpt_path)
    if path.is_dir():
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        if (folder / "last.ckpt").is_file():
            return str(folder / "last.ckpt")
        found = sorted(folder.glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise UserError(f"ckpt_path={ckpt_path}: no .ckpt file in {folder}")
        return str(found[-1])
    if not path.is_file():
        raise UserError(f"ckpt_path={ckpt_path}: no such file (give a .ckpt, a run folder or last)")
    return str(path)


def check_resume(path: str, checkpoint: dict[str, Any], model: nn.Module) -> None:
    """Refuse, before training, a checkpoint (``load_checkpoint(path)``) of another variant or
    with other networks."""
    extras = checkpoint[CHECKPOINT_KEY]
    variant, wanted = extras.get("variant"), type(model).__name__
    if variant != wanted:
        raise UserError(
            f"ckpt_path={path} is a {variant} checkpoint but this run builds a {wanted}; resume "
            "with the model=... (and overrides) of the run that wrote it"
        )
    if hasattr(model, "configure_model"):
        model.configure_model()  # what Lightning builds before it restores (G's average)
    saved, built = checkpoint["state_dict"], model.state_dict()
    missing = sorted(set(built) - set(saved))
    unexpected = sorted(set(saved) - set(built))
    reshaped = [k for k in built if k in saved and saved[k].shape != built[k].shape]
    if missing or unexpected or reshaped:
        first = (
            f"{reshaped[0]} is {tuple(saved[reshaped[0]].shape)} in the checkpoint, "
            f"{tuple(built[reshaped[0]].shape)} here"
            if reshaped
            else f"{(missing or unexpected)[0]} is {'missing from' if missing else 'extra in'} it"
        )
        raise UserError(
            f"ckpt_path={path} holds other networks than this run builds ({first}); resume "
            "with the model and data overrides of the run that wrote it"
        )


def load_network(
    path: str | Path, name: str = "generator", ema: bool = True
) -> tuple[nn.Module, DictConfig]:
    """The network ``model.<name>`` of a checkpoint in eval mode, and the run config."""
    networks, config = load_networks(path, [name], ema)
    return networks[name], config


def load_networks(
    path: str | Path, names: list[str] | None = None, ema: bool = True
) -> tuple[dict[str, nn.Module], DictConfig]:
    """Several networks of one checkpoint (read once); ``names`` None: every network it has.

    ``ema``: a generator the run averaged (``model.training.ema``) comes with the averaged
    weights, the ones its grids and evaluation showed; ``ema=False`` gives the raw G.
    """
    return networks_from(load_checkpoint(path), names, ema, str(path))


def networks_from(
    checkpoint: dict[str, Any], names: list[str] | None, ema: bool, source: str
) -> tuple[dict[str, nn.Module], DictConfig]:
    """``load_networks`` on a checkpoint already read (``source`` names it in errors), for
    callers that want both the averaged and the raw G without reading the file twice."""
    config = OmegaConf.create(checkpoint[CHECKPOINT_KEY]["config"])
    stored = {key.split(".", 1)[0] for key in checkpoint["state_dict"]}
    available = [
        k
        for k, v in config.model.items()
        if k in stored and OmegaConf.is_dict(v) and "_target_" in v
    ]
    networks = {}
    for name in available if names is None else names:
        if name not in available:
            hint = ""
            if "generator_ab" in available:
                hint = "; it is an image-to-image model: use python -m gan_lightning.translate"
            raise UserError(
                f"{source} has no network model.{name} (it has {', '.join(available)}){hint}"
            )
        network = instantiate(config.model[name])
        averaged = f"{AVERAGES_PREFIX}{name}."
        kept = any(k.startswith(averaged) for k in checkpoint["state_dict"])
        use_average = ema and kept and saved_averages_ready(checkpoint["state_dict"])
        if ema and kept and not use_average:
            log.info("model.%s: the raw weights (its average starts at ema.start_step)", name)
        prefix = averaged if use_average else f"{name}."
        state = {
            k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
        }
        network.load_state_dict(state)
        if use_average:
            log.info("model.%s: the average of its weights (ema=false: the raw ones)", name)
        networks[name] = network.eval()
    return networks, config
