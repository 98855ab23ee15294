"""The requeue of a SLURM job launched by submitit (``hydra/launcher=slurm``).

submitit asks SLURM to signal the job (``--signal=USR2@<signal_delay_s>``) before its time limit
or a pre-emption, and its handler then requeues the job and exits at once, wherever training is.
The interruption callback takes that signal over: training stops at the end of the batch,
``last.ckpt`` is written, and only then is submitit's handler called to requeue. The requeued
job runs the same command in the same run folder, so with ``ckpt_path=last`` it resumes there.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any


def submitit_requeue_handler() -> tuple[int, Callable[[int, Any], Any]] | None:
    """(signal, submitit's handler) when this process is a submitit job that requeues on it."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    signum = getattr(signal, f"SIG{name}", None)
    if signum is None:
        return None
    handler = signal.getsignal(signum)
    owner = getattr(handler, "__self__", None)
    if owner is None or not type(owner).__module__.startswith("submitit"):
        return None
    return int(signum), handler
