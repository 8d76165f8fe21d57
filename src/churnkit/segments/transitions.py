"""Segment transitions between two as-of dates D1 < D2: counts, row shares and a heatmap."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from churnkit.errors import InputError
from churnkit.segments.rfm import SEGMENT_ORDER

NOT_IN_BASE = "(not in base)"
"""Column for customers in the base at D1 but not at D2."""
UNKNOWN_SEGMENT = "(unknown)"
"""Label for a missing segment value."""


def _segments(frame: pd.DataFrame, col: str, what: str) -> pd.Series:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    for c in ("customer_id", col):
        if c not in frame.columns:
            raise InputError(f"Required column {c} missing from the {what} table", column=c)
    dup = frame["customer_id"].duplicated()
    if dup.any():
        raise InputError(
            f"The {what} table has {int(dup.sum())} duplicate customer_id values", column="customer_id"
        )
    values = frame[col].astype("object").where(frame[col].notna(), UNKNOWN_SEGMENT).astype(str)
    return pd.Series(values.to_numpy(), index=frame["customer_id"].to_numpy(), dtype="str")


def _ordered(labels: Iterable[str]) -> list[str]:
    """Known segment names in their default order, then the others alphabetically."""
    labels = set(labels)
    known = [s for s in SEGMENT_ORDER if s in labels]
    return (
        known
        + sorted(labels - set(known) - {UNKNOWN_SEGMENT})
        + ([UNKNOWN_SEGMENT] if UNKNOWN_SEGMENT in labels else [])
    )


def segment_transitions(
    before: pd.DataFrame, after: pd.DataFrame, *, col: str = "rfm_segment"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Transition matrix from ``before`` (D1) to ``after`` (D2): (counts, row shares).

    Rows: segments at D1 (only customers in the base at D1); columns: segments at D2 plus
    ``"(not in base)"``. Each row sums to the D1 customers of that segment; customers new at D2 are
    not counted. Both tables are CSV-ready (index ``from``, columns ``to``).
    """
    seg_before = _segments(before, col, "before")
    seg_after = _segments(after, col, "after")
    moved = seg_after.reindex(seg_before.index).fillna(NOT_IN_BASE).astype(str)
    rows = _ordered(seg_before.unique())
    cols = [*_ordered(set(rows) | set(moved.unique()) - {NOT_IN_BASE}), NOT_IN_BASE]
    counts = (
        pd.crosstab(pd.Series(seg_before.to_numpy(), name="from"), pd.Series(moved.to_numpy(), name="to"))
        .reindex(index=rows, columns=cols, fill_value=0)
        .astype("int64")
    )
    counts.index = pd.Index(rows, name="from", dtype="str")
    counts.columns = pd.Index(cols, name="to", dtype="str")
    totals = counts.sum(axis=1)
    shares = counts.div(totals.where(totals > 0), axis=0).astype("float64")
    return counts, shares


def plot_transitions(counts: pd.DataFrame, path: str | Path) -> Path:
    """Write a heatmap PNG of a transition count matrix (colour = row share, text = count and share)."""
    from matplotlib.figure import Figure  # here, not at import: scoring (which imports segments) never plots

    path = Path(path)
    values = counts.to_numpy(dtype="float64")
    totals = values.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, values / np.where(totals > 0, totals, 1), 0.0)
    n_rows, n_cols = values.shape
    fig = Figure(figsize=(max(6.0, 1.1 * n_cols + 3), max(4.0, 0.6 * n_rows + 2.5)), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(n_cols), [str(c) for c in counts.columns], rotation=40, ha="right")
    ax.set_yticks(range(n_rows), [f"{r} ({int(t)})" for r, t in zip(counts.index, totals[:, 0], strict=True)])
    ax.set_xlabel("segment at D2")
    ax.set_ylabel("segment at D1 (customers)")
    ax.set_title("Segment transitions (colour: share of the row)")
    for i in range(n_rows):
        for j in range(n_cols):
            if values[i, j]:
                ax.text(
                    j,
                    i,
                    f"{int(values[i, j])}\n{shares[i, j]:.0%}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if shares[i, j] > 0.6 else "black",
                )
    fig.colorbar(image, ax=ax, label="share of row")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, format="png")
    return path
