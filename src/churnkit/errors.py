"""One family of errors for user mistakes.

The library raises these; the CLI turns them into exit code 2 and one readable message.
Anything else is a bug and exits 1.
"""

from __future__ import annotations


class ChurnkitError(Exception):
    """Base class for every error caused by the user's input, files or configuration."""


class InputError(ChurnkitError):
    """An input file or table cannot be used (unreadable, empty, missing a column, ...)."""

    def __init__(self, message: str, *, path: str | None = None, column: str | None = None):
        self.path = path
        self.column = column
        super().__init__(message)


class ConfigError(ChurnkitError):
    """The configuration file or a command-line override is invalid."""


class ModelError(ChurnkitError):
    """A model cannot be found, loaded or applied to the given data."""


class DataTooShortError(ChurnkitError):
    """The data's history does not support what was asked (e.g. an as-of date outside the data)."""


class NotFittedError(ModelError, AttributeError):
    """A model was used before `fit` (the one "not fitted" signal of churnkit's estimators, as in scikit-learn)."""


class ChurnkitWarning(UserWarning):
    """Base class of churnkit's typed warnings (the library warns; it never prints)."""
