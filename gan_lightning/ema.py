"""An exponential moving average of the generators, and the one choice of which G to use.

Averaging G's weights over the last few thousand updates gives better samples than the last
update's G (Karras et al. 2018; Yazici et al. 2019), at the cost of one copy of G and one
``lerp`` over its weights per G update. Only the generators are averaged and nothing is
swapped into training: D keeps playing against the raw G.

BatchNorm statistics are not weights: G's running statistics describe G's activations, not
the average's. Before each use (grids, evaluation, the state dict of a checkpoint) the
average's statistics are re-estimated from its own activations on the inputs G was last
trained on (BigGAN's "standing statistics", Brock et al. 2019), kept by a hook on G.

The copies are plain modules, not ``torch.optim.swa_utils.AveragedModel``: its
``update_parameters`` reads its counter on the host each call (``if self.n_averaged == 0``),
a device synchronisation per G update on a GPU. The arithmetic is the same as its EMA
averaging function with a ramp-up on top.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

AVERAGES_PREFIX = "averages.copies."  # state dict keys of the averaged generators, + name
AVERAGES_COUNTER = "averages.updates"  # state dict key: how many updates were averaged in


@dataclass
class EMAOptions:
    """``decay`` per G update (null: no average); averaging starts at ``start_step``
    (``trainer.global_step``; until then the average is G itself and consumers use the raw G);
    ``rampup``: decay ``min(decay, (1 + n) / (10 + n))`` after n averaged updates, so early
    weights, far from the later ones, are forgotten fast (TensorFlow's ``num_updates`` rule);
    ``batchnorm_batches``: the average's BatchNorm statistics come from G's last that many
    training batches of inputs, run through the average (0: copied from G)."""

    decay: float | None = None
    start_step: int = 0
    rampup: bool = True
    batchnorm_batches: int = 32

    def __post_init__(self) -> None:
        if self.decay is not None and not 0.0 < self.decay < 1.0:
            raise ValueError(f"ema.decay must be in (0, 1) or null, got {self.decay}")
        if self.start_step < 0:
            raise ValueError(f"ema.start_step must be >= 0, got {self.start_step}")
        if self.batchnorm_batches < 0:
            raise ValueError(
                f"ema.batchnorm_batches must be >= 0 (0: copy G's statistics), "
                f"got {self.batchnorm_batches}"
            )


def ema_decay(options: EMAOptions, averaged_updates: int) -> float:
    """The decay of the next update after ``averaged_updates`` updates."""
    assert options.decay is not None
    if not options.rampup:
        return options.decay
    return min(options.decay, (1 + averaged_updates) / (10 + averaged_updates))


def batch_norms(network: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers that keep running statistics (SyncBatchNorm's are left alone:
    re-estimating them on one rank, as grids do, would wait forever for the others)."""
    kinds = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    return [m for m in network.modules() if isinstance(m, kinds) and m.track_running_stats]


class InputRecorder:
    """A forward pre-hook keeping the inputs of a network's last ``size`` training-mode calls:
    the batches its BatchNorm statistics came from. It keeps references, not copies."""

    def __init__(self, size: int) -> None:
        self.inputs: deque[tuple[tuple, dict]] = deque(maxlen=size)
        self.new = False  # inputs arrived since the statistics were last re-estimated

    @torch.compiler.disable  # host bookkeeping: a compiled G breaks its graph here, not in it
    def __call__(self, network: nn.Module, args: tuple, kwargs: dict) -> None:
        if network.training:
            self.inputs.append(
                (_map_tensors(args, Tensor.detach), _map_tensors(kwargs, Tensor.detach))
            )
            self.new = True

    def state(self) -> list[tuple[tuple, dict]]:
        """The recorded inputs on the CPU, for a checkpoint (a resumed run re-estimates from
        the same batches as the uninterrupted one). A batch G ran on twice (Pix2Pix's D and G
        updates) is one tensor, saved once."""
        copies: dict[tuple, Tensor] = {}

        def to_cpu(tensor: Tensor) -> Tensor:
            key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(),
                   tuple(tensor.shape), tensor.stride(), tensor.dtype, tensor.device)  # fmt: skip
            if key not in copies:
                copies[key] = tensor.cpu()
            return copies[key]

        return [(_map_tensors(a, to_cpu), _map_tensors(k, to_cpu)) for a, k in self.inputs]

    def load(self, inputs: list[tuple[tuple, dict]]) -> None:
        self.inputs.clear()
        self.inputs.extend((tuple(args), dict(kwargs)) for args, kwargs in inputs)
        self.new = False


class GeneratorAverages(nn.Module):
    """name -> an averaged copy of that generator (state dict keys ``averages.copies.<name>.…``).

    Buffers are copied from G after each update, not averaged; with ``batchnorm_batches`` the
    BatchNorm statistics are then re-estimated for the averaged weights before each use. The
    copies never require grad, so DDP and the optimizers ignore them; every rank averages the
    same all-reduced weights, so the averages agree too (statistics come from each rank's own
    inputs; rank 0's are saved).
    """

    def __init__(self, generators: dict[str, nn.Module], options: EMAOptions) -> None:
        super().__init__()
        self.options = options
        self.copies = nn.ModuleDict()
        for name, generator in generators.items():
            average = copy.deepcopy(generator)
            self.copies[name] = average.requires_grad_(False)
        self.recorders: dict[str, InputRecorder] = {}
        self._hooks: dict[str, RemovableHandle] = {}
        for name, generator in generators.items():
            if options.batchnorm_batches and batch_norms(generator):
                recorder = InputRecorder(options.batchnorm_batches)
                self._hooks[name] = generator.register_forward_pre_hook(recorder, with_kwargs=True)
                self.recorders[name] = recorder
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self._updates = 0  # the buffer's value on the host: no device read per step
        self._averaged_since_estimate = False
        self.register_load_state_dict_post_hook(_read_counter)
        self.register_state_dict_pre_hook(_estimate_before_saving)

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
        self._averaged_since_estimate = True

    def estimate_batchnorm(self) -> None:
        """Re-estimate each average's BatchNorm statistics from G's recorded inputs, when the
        weights or the inputs changed since the last time."""
        for name in [name for name in self.recorders if not batch_norms(self.copies[name])]:
            self._stop_recording(name)  # converted to SyncBatchNorm: its statistics are copied
        for name, recorder in self.recorders.items():
            if recorder.inputs and (recorder.new or self._averaged_since_estimate):
                standing_statistics(self.copies[name], recorder.inputs)
            recorder.new = False
        self._averaged_since_estimate = False

    def _stop_recording(self, name: str) -> None:
        self._hooks.pop(name).remove()
        del self.recorders[name]

    def recorded_inputs(self) -> dict[str, list[tuple[tuple, dict]]]:
        return {name: recorder.state() for name, recorder in self.recorders.items()}

    def restore_inputs(self, inputs: dict[str, list[tuple[tuple, dict]]]) -> None:
        for name, recorded in inputs.items():
            if name in self.recorders:
                self.recorders[name].load(recorded)


@torch.no_grad()
def standing_statistics(network: nn.Module, inputs: Iterable[tuple[tuple, dict]]) -> None:
    """Reset the network's BatchNorm statistics and accumulate them, equally weighted, over
    the inputs in training mode. The random-number generators are restored afterwards (G's
    dropout draws from them), so a use never changes what training draws next."""
    norms = batch_norms(network)
    if not norms:
        return
    momenta = [norm.momentum for norm in norms]
    device = norms[0].running_mean.device
    dtype = next(network.parameters(), norms[0].running_mean).dtype
    forked = [] if device.type == "cpu" else [device.index or 0]

    def to_device(tensor: Tensor) -> Tensor:
        # inputs recorded under autocast (a stage-1 image, a conditioning code) are half
        # precision; here there is no autocast, so they take the network's own dtype
        if tensor.is_floating_point():
            return tensor.to(device, dtype=dtype)
        return tensor.to(device)

    was_training = network.training
    with torch.random.fork_rng(devices=forked, device_type=device.type):
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over the batches
        network.train()
        try:
            for args, kwargs in inputs:
                network(*_map_tensors(args, to_device), **_map_tensors(kwargs, to_device))
        finally:
            network.train(was_training)
            for norm, momentum in zip(norms, momenta, strict=True):
                norm.momentum = momentum


def _map_tensors(values: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """``fn`` applied to every tensor of a tuple or dict of inputs (other values kept)."""
    if isinstance(values, dict):
        return {key: _map_tensors(value, fn) for key, value in values.items()}
    if isinstance(values, tuple | list):
        return tuple(_map_tensors(value, fn) for value in values)
    return fn(values) if isinstance(values, Tensor) else values


def _read_counter(module: GeneratorAverages, incompatible_keys: Any) -> None:
    module._updates = int(module.updates)
    module._averaged_since_estimate = False  # the statistics saved are the weights' own


def _estimate_before_saving(module: GeneratorAverages, prefix: str, keep_vars: bool) -> None:
    """A checkpoint holds statistics for the averaged weights it holds, so ``sample`` and
    ``evaluate`` need no inputs of their own."""
    if module.ready:
        module.estimate_batchnorm()


def saved_averages_ready(state_dict: dict[str, Any]) -> bool:
    """``GeneratorAverages.ready`` for a checkpoint's state dict: the commands that read a
    checkpoint choose G as grids and evaluation do during training."""
    return int(state_dict[AVERAGES_COUNTER]) > 0


@contextmanager
def use_averages(model: nn.Module, enabled: bool = True) -> Iterator[bool]:
    """Within this block the model's generator attributes are their averages, when the model
    has them and they are ready; yields whether they are used. Grids and evaluation go
    through here, so every consumer of G makes the same choice."""
    averages = getattr(model, "averages", None)
    if not enabled or not isinstance(averages, GeneratorAverages) or not averages.ready:
        yield False
        return
    averages.estimate_batchnorm()
    raw = {name: getattr(model, name) for name in averages.copies}
    try:
        for name, average in averages.copies.items():
            model._modules[name] = average  # a reference swap: nothing is copied
        yield True
    finally:
        for name, generator in raw.items():
            model._modules[name] = generator
