"""User-facing errors: one clear message, exit status 2, never a traceback."""
from __future__ import annotations


class CimsimError(Exception):
    """An error caused by the user's input (files, keys, values, sizes)."""

    exit_code = 2


class ConfigError(CimsimError):
    """A bad value in a config file, located by file, line and key path."""

    def __init__(self, file: str, key: str, expected: str, got: object = None,
                 line: int | None = None, note: str = "") -> None:
        self.file, self.key, self.expected, self.got, self.line = file, key, expected, got, line
        where = f"{file}:{line}" if line else file
        msg = f"{where}: {key or '<top>'}: expected {expected}"
        if got is not None:
            msg += f", got {got!r}"
        if note:
            msg += f" ({note})"
        super().__init__(msg)


class FitError(CimsimError):
    """The network does not fit the chip (or a buffer)."""
