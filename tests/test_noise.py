"""quiet_known_noise drops exactly the known third-party lines, by message and origin."""

from __future__ import annotations

import logging
import warnings

import pytest

from gan_lightning.noise import quiet_known_noise, quiet_resume

LEAFSPEC = (
    "`isinstance(treespec, LeafSpec)` is deprecated, "
    "use `isinstance(treespec, TreeSpec) and treespec.is_leaf()` instead."
)
LIGHTNING_PYTREE = "pytorch_lightning.utilities._pytree"
TIP = (
    "💡 Tip: For seamless cloud logging and experiment tracking, try installing "
    "[litlogger](https://pypi.org/project/litlogger/) to enable LitLogger, which logs metrics "
    "and artifacts automatically to the Lightning Experiments platform."
)
RANK_ZERO = "pytorch_lightning.utilities.rank_zero"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def rank_zero_logger():
    """Lightning's rank-zero logger with a collecting handler; filters and level restored after."""
    logger = logging.getLogger(RANK_ZERO)
    saved_filters, saved_level = list(logger.filters), logger.level
    handler = _Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)
        logger.filters[:] = saved_filters
        logger.setLevel(saved_level)


def _warn(message: str, module: str) -> None:
    warnings.warn_explicit(message, FutureWarning, f"{module}.py", 21, module=module)


def test_leafspec_warning_is_dropped_only_from_lightning(rank_zero_logger):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_noise()
        _warn(LEAFSPEC, LIGHTNING_PYTREE)
        _warn(LEAFSPEC, "gan_lightning.train")
        _warn(LEAFSPEC, LIGHTNING_PYTREE + "_extra")
        _warn("something else is deprecated", LIGHTNING_PYTREE)
        warnings.warn("a warning of our own", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == [
        LEAFSPEC,
        LEAFSPEC,
        "something else is deprecated",
        "a warning of our own",
    ]


def test_leafspec_warning_of_the_installed_lightning_is_dropped(rank_zero_logger):
    from pytorch_lightning.utilities._pytree import _tree_flatten

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _tree_flatten(1)
    if not any("LeafSpec" in str(w.message) for w in caught):
        pytest.skip("the installed torch/Lightning no longer warn: the entry may be stale")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_noise()
        _tree_flatten(1)
    assert not [w for w in caught if "LeafSpec" in str(w.message)]


def test_set_vital_warning_of_the_installed_torchdata_is_dropped(rank_zero_logger):
    from torchdata.stateful_dataloader import StatefulDataLoader

    def build_loader() -> None:
        StatefulDataLoader(list(range(4)), batch_size=2)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_loader()
    if not any("set_vital" in str(w.message) for w in caught):
        pytest.skip("the installed torch/torchdata no longer warn: the entry may be stale")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_noise()
        build_loader()
        warnings.warn("'set_vital' is deprecated, said elsewhere", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["'set_vital' is deprecated, said elsewhere"]


def test_the_module_hook_note_is_dropped_only_for_the_batch_transfer_hook(rank_zero_logger):
    note = (
        "You have overridden `{}` in `LightningModule` but have passed in a "
        "`LightningDataModule`. It will use the implementation from `LightningModule` instance."
    )
    connector = "pytorch_lightning.trainer.connectors.data_connector"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_noise()
        for hook in ("on_before_batch_transfer", "transfer_batch_to_device"):
            warnings.warn_explicit(note.format(hook), UserWarning, "x.py", 378, module=connector)
    assert [str(w.message) for w in caught] == [note.format("transfer_batch_to_device")]


def test_the_folder_not_empty_note_is_dropped_only_while_resuming():
    note = "Checkpoint directory /run/checkpoints exists and is not empty."
    module = "pytorch_lightning.callbacks.model_checkpoint"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for resuming in (True, False):
            with quiet_resume(resuming):
                warnings.warn_explicit(note, UserWarning, "x.py", 881, module=module)
                warnings.warn_explicit("another note", UserWarning, "x.py", 882, module=module)
        warnings.warn_explicit(note, UserWarning, "x.py", 881, module=module)  # filter gone
    assert [str(w.message) for w in caught] == ["another note", note, "another note", note]


def test_litlogger_tip_is_dropped_and_other_lines_pass(rank_zero_logger):
    from pytorch_lightning.utilities.rank_zero import rank_zero_info

    logger, handler = rank_zero_logger
    quiet_known_noise()
    rank_zero_info(TIP)  # the way the Trainer logs it
    logger.info(TIP)
    rank_zero_info("GPU available: False, used: False")
    assert handler.messages == ["GPU available: False, used: False"]
    # the same text on another logger is not ours to drop
    assert logging.getLogger("gan_lightning.train").filter(logging.makeLogRecord({"msg": TIP}))


def test_calling_twice_adds_nothing(rank_zero_logger):
    logger, _ = rank_zero_logger
    with warnings.catch_warnings():
        quiet_known_noise()
        filters, log_filters = list(warnings.filters), list(logger.filters)
        quiet_known_noise()
        assert warnings.filters == filters
        assert logger.filters == log_filters
