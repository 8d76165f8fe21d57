"""Which as-of dates (snapshots) a training run uses: one scheduler, one leakage rule.

For an as-of date D, a horizon H and data covering [first, end) (end = the day after the last purchase):

* a snapshot at origin o is *labelled* when its label window [o, o + H) lies inside what is observed,
  o + H <= min(D, end), and it has at least ``min_history_days`` of history, o - first >= min_history_days;
* the **test** snapshot is D itself when its window is observed (a backtest on old data), else the latest
  labelled origin, min(D, end) - H (history that ends at D: the usual case on the day a shop scores);
* backtest **training** origins end their label window by the test origin, o + H <= test, so no training
  label sees the test window (no customer-time leakage). When none fits, the backtest falls back to
  **held-out customers**: training uses every labelled origin, but only the customers outside a seeded
  hash split; the test customers are never trained on (evidence ``customer_holdout``, said in the notes);
* the **final** model uses every labelled origin up to min(D, end);
* origins go back from the latest one ``spacing_days`` apart; when fewer than three fit, the spacing
  shrinks (to 14, then 7 days) so short histories still give several snapshots;
* **seasons**: when the history covers a year plus H, the origins one year before the scoring date (and one
  spacing either side) are added, so a horizon that holds the year's peak is learned from last year's peak.

Nothing here reads data: dates in, dates out, so the rules have direct tests (tests/features/test_snapshots.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

DAY = dt.timedelta(days=1)
YEAR_DAYS = 365
SHORT_SPACINGS = (14, 7)
"""Spacings (days) tried in turn when fewer than ``MIN_SNAPSHOTS`` origins fit at the configured spacing."""
MIN_SNAPSHOTS = 3
"""Fewer labelled origins than this at the configured spacing and the spacing shrinks (short histories)."""


@dataclass(frozen=True)
class Schedule:
    """The snapshot dates of one training run and the evidence its backtest has."""

    as_of: dt.date
    horizon_days: int
    first: dt.date
    observed_end: dt.date
    test: dt.date | None
    train: tuple[dt.date, ...]
    final: tuple[dt.date, ...]
    evidence: str
    """``time`` (training origins end before the test window), ``customer_holdout`` (no earlier origin
    fits: test customers held out of training), or ``none`` (no labelled snapshot at all)."""
    spacing_days: int
    seasonal: tuple[dt.date, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """One plain line: which dates the backtest used."""
        if self.test is None:
            return "no labelled snapshot: nothing to backtest"
        train = ", ".join(map(str, self.train)) or "none"
        if self.evidence == "customer_holdout":
            return (
                f"backtest at {self.test} on held-out customers only (no earlier snapshot has its label window "
                f"before {self.test}); training snapshots {train}, spaced {self.spacing_days} days"
            )
        return f"backtest at {self.test}; training snapshots {train} (spaced {self.spacing_days} days)"


def _origins(
    latest: dt.date, first: dt.date, *, n: int, spacing: int, min_history_days: int
) -> list[dt.date]:
    out = []
    for k in range(n):
        d = latest - dt.timedelta(days=k * spacing)
        if (d - first).days < min_history_days:
            break
        out.append(d)
    return out


def _adaptive(
    latest: dt.date, first: dt.date, *, n: int, spacing: int, min_history_days: int
) -> tuple[list[dt.date], int]:
    """Origins back from ``latest``; a shorter spacing when fewer than ``n`` fit at the configured one."""
    best = _origins(latest, first, n=n, spacing=spacing, min_history_days=min_history_days)
    used = spacing
    for s in SHORT_SPACINGS:
        if len(best) >= min(n, MIN_SNAPSHOTS) or s >= spacing:
            continue
        more = _origins(latest, first, n=n, spacing=s, min_history_days=min_history_days)
        if len(more) > len(best):
            best, used = more, s
    return sorted(best), used


def _seasonal(
    anchor: dt.date,
    cutoff: dt.date,
    first: dt.date,
    *,
    horizon_days: int,
    spacing: int,
    min_history_days: int,
) -> list[dt.date]:
    """Origins one year before ``anchor`` (± one spacing) whose label window ends by ``cutoff``."""
    centre = anchor - dt.timedelta(days=YEAR_DAYS)
    out = []
    for k in (-1, 0, 1):
        d = centre + dt.timedelta(days=k * spacing)
        if (d - first).days >= min_history_days and d + dt.timedelta(days=horizon_days) <= cutoff:
            out.append(d)
    return out


def schedule(
    first: dt.date,
    last: dt.date,
    as_of: dt.date,
    *,
    horizon_days: int,
    n_snapshots: int = 6,
    spacing_days: int = 30,
    min_history_days: int = 30,
    seasonal: bool = True,
) -> Schedule:
    """The snapshot schedule for data whose purchases span [first, last] (dates), scored at ``as_of``."""
    h = dt.timedelta(days=horizon_days)
    end = last + DAY
    observed_end = min(as_of, end)
    notes: list[str] = []
    test: dt.date | None = as_of if as_of + h <= end else observed_end - h
    if (test - first).days < min_history_days:
        test = None
    final, spacing = _adaptive(
        observed_end - h, first, n=n_snapshots, spacing=spacing_days, min_history_days=min_history_days
    )
    if test is None:
        return Schedule(as_of, horizon_days, first, observed_end, None, (), tuple(final), "none", spacing)
    train, train_spacing = _adaptive(
        test - h, first, n=n_snapshots, spacing=spacing_days, min_history_days=min_history_days
    )
    evidence = "time"
    extra_final: list[dt.date] = []
    extra_train: list[dt.date] = []
    year_covered = (observed_end - first).days >= YEAR_DAYS + horizon_days + min_history_days
    if seasonal and year_covered:
        extra_final = _seasonal(
            observed_end if as_of >= end else as_of,
            observed_end,
            first,
            horizon_days=horizon_days,
            spacing=spacing_days,
            min_history_days=min_history_days,
        )
        extra_train = _seasonal(
            test,
            test,
            first,
            horizon_days=horizon_days,
            spacing=spacing_days,
            min_history_days=min_history_days,
        )
    if not train:
        evidence = "customer_holdout"
        train = [d for d in final if d <= test]
        train_spacing = spacing
        notes.append(
            f"no snapshot ends its {horizon_days}-day label window by the test snapshot {test}: the backtest "
            f"is on customers held out of training at {test} (not a time-based test)"
        )
    train = sorted(set(train) | set(extra_train))
    final = sorted(set(final) | set(extra_final))
    added = sorted(set(extra_final) | set(extra_train))
    return Schedule(
        as_of,
        horizon_days,
        first,
        observed_end,
        test,
        tuple(train),
        tuple(final),
        evidence,
        train_spacing if evidence == "time" else spacing,
        tuple(added),
        tuple(notes),
    )


def months_not_learned(
    window_start: dt.date, horizon_days: int, origins: tuple[dt.date, ...] | list[dt.date]
) -> list[int]:
    """Calendar months of [window_start, window_start + H) that no training label window covers.

    A horizon holding a month no training window saw (e.g. a November-January peak scored from nine months of
    history) cannot be calibrated on it: the run says so.
    """

    def months(start: dt.date) -> set[int]:
        return {(start + dt.timedelta(days=k)).month for k in range(horizon_days)}

    seen: set[int] = set()
    for o in origins:
        seen |= months(o)
    return sorted(months(window_start) - seen)
