"""Silence third-party lines that every run prints and that no user can act on.

``quiet_known_noise()`` filters exactly the entries of ``_KNOWN_NOISE``, each by its message *and*
its origin (the module a warning is attributed to, the logger a record is logged on), so every
other warning, ours or anyone's, and every other log line still shows:

* ``FutureWarning`` "`isinstance(treespec, LeafSpec)` is deprecated, ...": torch deprecated
  ``torch.utils._pytree.LeafSpec`` (its ``@deprecated`` fires on construction) and Lightning's
  ``pytorch_lightning.utilities._pytree._tree_flatten`` still constructs one when it flattens a
  step's output, so the warning points at Lightning's line 21. Nothing in our code or in a user's
  config causes it and only a Lightning release can fix it.
* "💡 Tip: For seamless cloud logging ... try installing [litlogger]": an advertisement the
  ``Trainer`` logs with ``rank_zero_info`` (logger ``pytorch_lightning.utilities.rank_zero``)
  whenever no ``LitLogger`` is configured. Lightning offers no switch for it (no argument, no
  environment variable), so a ``logging.Filter`` on that one logger drops that one message.
* ``UserWarning`` "'set_vital' is deprecated, please do not call": torch deprecated
  ``torch.set_vital`` and torchdata's ``StatefulDataLoader`` (the training loader, which makes
  a run resumable at any batch) still calls it when it is built, once per run. Only a
  torchdata release can fix it.
* ``UserWarning`` "You have overridden `on_before_batch_transfer` in `LightningModule` but
  have passed in a `LightningDataModule`": Lightning's note that the module's hook is the one
  used, which is what the conditional GAN wants (it checks the labels there, on the host).

After a Lightning or torch upgrade, check and edit ``_KNOWN_NOISE`` only.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple


class _Noise(NamedTuple):
    category: type[Warning] | None  # None: a log record rather than a warning
    origin: str  # a warning's module (regex), or the exact name of the logger of a log record
    message: str  # regex matched at the start of the message


_KNOWN_NOISE: tuple[_Noise, ...] = (
    _Noise(
        FutureWarning,
        r"pytorch_lightning\.utilities\._pytree\Z",
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    ),
    _Noise(
        UserWarning,
        r"torchdata\.stateful_dataloader\.stateful_dataloader\Z",
        r"'set_vital' is deprecated",
    ),
    _Noise(
        UserWarning,
        r"pytorch_lightning\.trainer\.connectors\.data_connector\Z",
        r"You have overridden `on_before_batch_transfer` in `LightningModule` but have passed",
    ),
    _Noise(
        None,
        "pytorch_lightning.utilities.rank_zero",
        r"💡 Tip: For seamless cloud logging and experiment tracking",
    ),
)


class _DropMessage(logging.Filter):
    """Drops the records whose (unformatted) message matches ``pattern``; passes all others."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(str(record.msg))


def quiet_known_noise() -> None:
    """Filter the entries of ``_KNOWN_NOISE``; calling it again adds nothing."""
    for noise in _KNOWN_NOISE:
        if noise.category is not None:
            # filterwarnings removes an identical filter before inserting it, so no duplicates.
            warnings.filterwarnings(
                "ignore", message=noise.message, category=noise.category, module=noise.origin
            )
            continue
        logger = logging.getLogger(noise.origin)  # the same object Lightning logs on
        if not any(
            isinstance(f, _DropMessage) and f.pattern.pattern == noise.message
            for f in logger.filters
        ):
            logger.addFilter(_DropMessage(noise.message))


@contextmanager
def quiet_resume(resuming: bool) -> Iterator[None]:
    """While a run resumes into its own folder, drop Lightning's "Checkpoint directory ...
    exists and is not empty": that folder holds the checkpoint being resumed. A fresh run into
    a used folder still gets the warning."""
    with warnings.catch_warnings():
        if resuming:
            warnings.filterwarnings(
                "ignore",
                message=r"Checkpoint directory .* exists and is not empty",
                module=r"pytorch_lightning\.callbacks\.model_checkpoint\Z",
            )
        yield
