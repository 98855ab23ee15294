"""Means of per-step scalars, kept on the device between the steps that log them."""

from __future__ import annotations

import torch
from torch import Tensor

# pending steps are summed into the totals once this many have accumulated, which bounds the
# memory an epoch that is never logged mid-way can hold
MAX_PENDING = 256


class RunningMeans:
    """Sums and counts per key. A step's scalars are stacked into one tensor (``pack``) and
    only queued; they are summed, one stack-and-sum per group of keys, when the means are read.
    So a step costs one tensor operation for all its keys and all the ``RunningMeans`` that
    take it (the window's and the epoch's), with no host sync and no call into Lightning's
    logging, which costs more per key than a small network's whole step."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}
        self._pending: list[tuple[tuple[str, ...], Tensor]] = []

    @staticmethod
    def pack(values: dict[str, Tensor]) -> tuple[tuple[str, ...], Tensor]:
        """The step's scalars as (keys, one float tensor), to ``add`` to several means."""
        with torch.no_grad():
            return tuple(values), torch.stack([v.detach().float() for v in values.values()])

    def add(self, values: dict[str, Tensor] | tuple[tuple[str, ...], Tensor]) -> None:
        packed = values if isinstance(values, tuple) else self.pack(values)
        for key in packed[0]:
            self.counts[key] = self.counts.get(key, 0) + 1
        self._pending.append(packed)
        if len(self._pending) >= MAX_PENDING:
            self._sum_pending()

    def _sum_pending(self) -> None:
        groups: dict[tuple[str, ...], list[Tensor]] = {}
        for keys, stacked in self._pending:
            groups.setdefault(keys, []).append(stacked)
        self._pending.clear()
        for keys, tensors in groups.items():
            totals = torch.stack(tensors).sum(0)
            for key, total in zip(keys, totals, strict=True):
                self.sums[key] = self.sums[key] + total if key in self.sums else total

    def means(self) -> dict[str, Tensor]:
        self._sum_pending()
        return {key: total / self.counts[key] for key, total in self.sums.items()}

    def reset(self) -> None:
        self.sums.clear()
        self.counts.clear()
        self._pending.clear()

    def __bool__(self) -> bool:
        return bool(self.counts)
