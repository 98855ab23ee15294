"""The one exception type that the command line turns into a single clear line."""


class UserError(Exception):
    """A problem the user can fix (bad option, missing file): shown as one line, no traceback."""

    exit_status = 2


class TrainingDiverged(UserError):
    """A loss or weight became NaN or infinite: the run stops, its last good checkpoint stays."""

    exit_status = 3


class SettingError(ValueError):
    """One argument of a constructor is wrong; the command line names its full config key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem
