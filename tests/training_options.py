"""Tests build models with the step's options mixed into the keyword arguments, as before."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from gan_lightning.training.options import TrainingOptions

FIELDS = {f.name for f in fields(TrainingOptions)}


def with_training(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with the ``TrainingOptions`` fields gathered into ``training``."""
    options = {k: v for k, v in kwargs.items() if k in FIELDS}
    rest = {k: v for k, v in kwargs.items() if k not in FIELDS}
    return {**rest, "training": TrainingOptions(**options)}
