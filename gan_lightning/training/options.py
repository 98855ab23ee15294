"""The options of the shared step that every variant takes alike (``model.training``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from gan_lightning.ema import EMAOptions
from gan_lightning.errors import SettingError
from gan_lightning.regularizers import DiscriminatorPenalties
from gan_lightning.sizes import PositiveInt

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], Any]
NONFINITE_ACTIONS = ("stop", "skip")


@dataclass
class TrainingOptions:
    """How D and G are updated.

    ``optimizer`` builds both optimizers unless ``d_optimizer`` is given (e.g. a TTUR learning
    rate for D). ``scheduler`` (optional) is applied to each optimizer and stepped by hand at the
    end of every epoch, since Lightning does not step schedulers under manual optimization.
    ``d_steps``: D updates per G update. ``on_nonfinite``: a NaN/inf loss ``stop``s the run
    (exit 3, the last good checkpoint kept) or ``skip``s that update. ``log_grad_norms``: log
    the norm of D's and G's gradients at each update (``train/d_grad_norm``,
    ``train/g_grad_norm``), off by default as it costs a pass over every gradient.

    The toolkit, off by default: D's penalties (``gp_weight``, ``gp_one_sided``, ``r1_gamma``,
    ``r1_every``, ``r1_rampup``: ``regularizers.py``), the average of G (``ema``: ``ema.py``)
    and the augmentation of everything D sees (``augment``: ``augment.py``).
    """

    optimizer: OptimizerFactory
    d_optimizer: OptimizerFactory | None = None
    scheduler: SchedulerFactory | None = None
    d_steps: PositiveInt = 1
    g_grad_clip: float | None = None
    d_grad_clip: float | None = None
    on_nonfinite: str = "stop"
    log_grad_norms: bool = False
    gp_weight: float = 0.0
    gp_one_sided: bool = False
    r1_gamma: float = 0.0
    r1_every: PositiveInt = 1
    r1_rampup: int = 0
    ema: EMAOptions = field(default_factory=EMAOptions)
    augment: nn.Module | None = None

    def __post_init__(self) -> None:
        if self.on_nonfinite not in NONFINITE_ACTIONS:
            allowed = ", ".join(NONFINITE_ACTIONS)
            raise ValueError(f"on_nonfinite must be one of {allowed}, got {self.on_nonfinite!r}")
        if self.d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {self.d_steps}")
        DiscriminatorPenalties.from_options(self)  # refuses a bad penalty setting now
        for name in ("g_grad_clip", "d_grad_clip"):
            clip = getattr(self, name)
            if clip is not None and clip <= 0:
                raise ValueError(f"{name} must be positive or null, got {clip}")
        self._try_factories()

    def _try_factories(self) -> None:
        """Build each optimizer and scheduler once on a stand-in parameter: a bad setting
        (a negative learning rate) then fails at start-up naming its key, not inside fit."""
        for name in ("optimizer", "d_optimizer"):
            factory = getattr(self, name)
            if factory is None:
                continue
            try:
                optimizer = factory([nn.Parameter(torch.zeros(1))])
            except (TypeError, ValueError) as error:
                raise SettingError(name, str(error)) from None
            if self.scheduler is not None:
                try:
                    self.scheduler(optimizer)
                except (TypeError, ValueError) as error:
                    raise SettingError("scheduler", str(error)) from None

    def optimizers(self, d_params: Iterable[nn.Parameter], g_params: Iterable[nn.Parameter]) -> Any:
        """What ``configure_optimizers`` returns: [D's, G's] (and their schedulers)."""
        d_opt = (self.d_optimizer or self.optimizer)(d_params)
        g_opt = self.optimizer(g_params)
        if self.scheduler is None:
            return [d_opt, g_opt]
        return [d_opt, g_opt], [self.scheduler(d_opt), self.scheduler(g_opt)]
