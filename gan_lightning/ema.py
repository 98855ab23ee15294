"""An exponential moving average of the generators, and the one choice of which G to use.

Averaging G's weights over the last few thousand updates gives better samples than the last
update's G (Karras et al. 2018; Yazici et al. 2019), at the cost of one copy of G and one
``lerp`` over its weights per G update. Only the generators are averaged and nothing is
swapped into training: D keeps playing against the raw G.

The copies are plain modules, not ``torch.optim.swa_utils.AveragedModel``: its
``update_parameters`` reads its counter on the host each call (``if self.n_averaged == 0``),
a device synchronisation per G update on a GPU. The arithmetic is the same as its EMA
averaging function with a ramp-up on top.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

AVERAGES_PREFIX = "averages.copies."  # state dict keys of the averaged generators, + name


@dataclass
class EMAOptions:
    """``decay`` per G update (null: no average); averaging starts at ``start_step``
    (``trainer.global_step``; until then the average is G itself and consumers use the raw G);
    ``rampup``: decay ``min(decay, (1 + n) / (10 + n))`` after n averaged updates, so early
    weights, far from the later ones, are forgotten fast (TensorFlow's ``num_updates`` rule)."""

    decay: float | None = None
    start_step: int = 0
    rampup: bool = True

    def __post_init__(self) -> None:
        if self.decay is not None and not 0.0 < self.decay < 1.0:
            raise ValueError(f"ema.decay must be in (0, 1) or null, got {self.decay}")
        if self.start_step < 0:
            raise ValueError(f"ema.start_step must be >= 0, got {self.start_step}")


def ema_decay(options: EMAOptions, averaged_updates: int) -> float:
    """The decay of the next update after ``averaged_updates`` updates."""
    assert options.decay is not None
    if not options.rampup:
        return options.decay
    return min(options.decay, (1 + averaged_updates) / (10 + averaged_updates))


class GeneratorAverages(nn.Module):
    """name -> an averaged copy of that generator (state dict keys ``averages.<name>.…``).

    BatchNorm buffers are copied from G after each update, not averaged: they are statistics
    of G's own activations. The copies never require grad, so DDP and the optimizers ignore
    them; every rank averages the same all-reduced weights, so the averages agree too.
    """

    def __init__(self, generators: dict[str, nn.Module], options: EMAOptions) -> None:
        super().__init__()
        self.options = options
        self.copies = nn.ModuleDict()
        for name, generator in generators.items():
            average = copy.deepcopy(generator)
            self.copies[name] = average.requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self._updates = 0  # the buffer's value on the host: no device read per step
        self.register_load_state_dict_post_hook(_read_counter)

    @property
    def ready(self) -> bool:
        """Whether any update has been averaged (before ``start_step`` the raw G is better)."""
        return self._updates > 0

    @torch.no_grad()
    def update(self, generators: dict[str, nn.Module], step: int) -> None:
        """Average in the generators' current weights (after G's optimizer step)."""
        if step < self.options.start_step:
            return
        decay = 0.0 if self._updates == 0 else ema_decay(self.options, self._updates)
        for name, generator in generators.items():
            average = self.copies[name]
            averaged = [p for p in average.parameters()]
            current = [p.detach() for p in generator.parameters()]
            torch._foreach_lerp_(averaged, current, 1.0 - decay)
            for kept, live in zip(average.buffers(), generator.buffers(), strict=True):
                kept.copy_(live)
        self._updates += 1
        self.updates.fill_(self._updates)


def _read_counter(module: GeneratorAverages, incompatible_keys: Any) -> None:
    module._updates = int(module.updates)


@contextmanager
def use_averages(model: nn.Module, enabled: bool = True) -> Iterator[bool]:
    """Within this block the model's generator attributes are their averages, when the model
    has them and they are ready; yields whether they are used. Grids and evaluation go
    through here, so every consumer of G makes the same choice."""
    averages = getattr(model, "averages", None)
    if not enabled or not isinstance(averages, GeneratorAverages) or not averages.ready:
        yield False
        return
    raw = {name: getattr(model, name) for name in averages.copies}
    try:
        for name, average in averages.copies.items():
            model._modules[name] = average  # a reference swap: nothing is copied
        yield True
    finally:
        for name, generator in raw.items():
            model._modules[name] = generator
