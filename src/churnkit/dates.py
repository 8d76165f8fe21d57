"""The one date parser: every as-of date, from the command line, a config file or a library call, goes through it."""

from __future__ import annotations

import datetime as dt

from churnkit.errors import ConfigError


def parse_date(value: object, *, name: str = "as_of") -> dt.date:
    """A calendar date from a date, a midnight datetime/Timestamp or a YYYY-MM-DD string.

    Anything else raises ConfigError naming `name` (an option such as ``--as-of`` or a config key), so the
    command line shows one line and exits 2.
    """
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ConfigError(
                f"invalid value for {name}: expected a date like 2024-01-31, got {value!r}"
            ) from None
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0) or value.tzinfo is not None:
            raise ConfigError(f"{name} must be a calendar date (midnight, no time zone), got {value!r}")
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise ConfigError(f"invalid value for {name}: expected a date like 2024-01-31, got {value!r}")


def parse_optional_date(value: object, *, name: str = "as_of") -> dt.date | None:
    """`parse_date`, with None passed through (an as-of date left to its default)."""
    return None if value is None else parse_date(value, name=name)
