"""Means of per-step scalars, kept on the device between the steps that log them."""

from __future__ import annotations

from torch import Tensor


class RunningMeans:
    """Sums and counts per key. Adding is one tensor add: no host sync and no call into
    Lightning's logging, which costs more per key than a small network's whole step."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, values: dict[str, Tensor]) -> None:
        for key, value in values.items():
            value = value.detach()
            if key in self.sums:
                self.sums[key] = self.sums[key] + value
                self.counts[key] += 1
            else:
                self.sums[key] = value.clone()
                self.counts[key] = 1

    def means(self) -> dict[str, Tensor]:
        return {key: total / self.counts[key] for key, total in self.sums.items()}

    def reset(self) -> None:
        self.sums.clear()
        self.counts.clear()

    def __bool__(self) -> bool:
        return bool(self.sums)
