"""Global random-number-generator states as plain tensors and numbers.

Checkpoints must load with ``weights_only=True``, which refuses numpy arrays and arbitrary
objects, so numpy's and Python's states are converted to tensors and lists of ints.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


def collect_rng_state() -> dict[str, Any]:
    """torch (CPU and every CUDA device), numpy and Python's ``random`` states."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        # only when CUDA is in use: querying it would initialise it in CPU runs
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "state": list(python_state), "gauss": python_gauss},
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        # a run resumed on fewer GPUs restores the devices it has
        for device, cuda_state in zip(
            range(torch.cuda.device_count()), state["cuda"], strict=False
        ):
            torch.cuda.set_rng_state(cuda_state, device)
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["gauss"],
        )
    )
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(python_state["state"]), python_state["gauss"]))


def seed_for_rank(rank: int, share: Callable[[int], int] | None = None) -> None:
    """Give this process its own random streams, derived from the run's seed and its rank.

    ``seed_everything`` seeds every DDP process alike, so they would draw the same latents and
    the same CycleGAN partners: each rank's fakes would be copies of the others'. ``share``
    hands every rank rank 0's base (a broadcast), for ranks that were seeded apart: started by
    torchrun or SLURM with ``seed=null``, each drew its own seed.
    """
    # drawn from the current (shared) state, so no rank rewinds to a stream it already used
    base = int(torch.randint(0, 2**62, (1,)))
    if share is not None:
        base = int(share(base))
    seed = (base + 1_000_003 * rank) % 2**63
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def gather_rng_states(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's state, in rank order (a collective: every rank must call it)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [state]
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


SEED_VARIABLE = "PL_GLOBAL_SEED"  # where seed_everything leaves the seed for child processes


def choose_seed(given: int | None, resumed: int | None) -> int:
    """The run's seed: ``given``; else ``resumed`` (the seed of the run a checkpoint resumes,
    so its shuffle carries on where it stopped); else, in a rank that Lightning's DDP launcher
    started (``LOCAL_RANK`` > 0), the first process's seed, which it hands over in
    ``PL_GLOBAL_SEED``; else a fresh draw. Elsewhere that variable is not trusted: it can be
    an earlier job's of an in-process sweep, or a notebook's."""
    if given is not None:
        return int(given)
    if resumed is not None:
        return int(resumed)
    handed = os.environ.get(SEED_VARIABLE)
    if handed is not None and int(os.environ.get("LOCAL_RANK", "0")) > 0:
        return int(handed)
    return secrets.randbelow(2**31)  # not the global stream: a sweep's last job left it seeded
