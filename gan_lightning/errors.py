"""The one exception type that the command line turns into a single clear line."""


class UserError(Exception):
    """A problem the user can fix (bad option, missing file): shown as one line, no traceback."""

    exit_status = 2


class TrainingDiverged(UserError):
    """A loss or weight became NaN or infinite: the run stops, its last good checkpoint stays."""

    exit_status = 3
