"""Sizes and counts that must be positive, as annotations the start-up check enforces.

``latent_dim: PositiveInt`` in a constructor makes ``model.latent_dim=0`` one error line naming
the key (``config_check``), before anything is built, instead of a generator with no input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any


@dataclass(frozen=True)
class Positive:
    """The value (each item, for a list) must be greater than zero."""

    def problem(self, value: Any) -> str | None:
        return None if value > 0 else "must be positive"


PositiveInt = Annotated[int, Positive()]
