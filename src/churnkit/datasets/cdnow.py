"""The full CDNOW master data set (Fader, Hardie & Lee 2005), as shipped inside lifetimes.

23,570 customers who made their first purchase at CDNOW in the first quarter of 1997, followed to the end
of June 1998: 69,659 rows of ``customer_id date number_of_cds dollar_value``. Each row is one purchase
record (a customer can have several on one day); there are no returns.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pandas as pd

from churnkit.data.io import atomic_path
from churnkit.errors import InputError

CDNOW_MASTER_FILE = "CDNOW_master.txt"
CDNOW_CSV_NAME = "cdnow_master.csv"
CSV_COLUMNS: tuple[str, ...] = ("customer_id", "order_id", "timestamp", "amount", "quantity")
"""Canonical columns written by :func:`cdnow_csv`, in order."""


def cdnow_master_source() -> Path:
    """Path of ``CDNOW_master.txt`` inside the installed lifetimes package (found without importing it)."""
    spec = importlib.util.find_spec(
        "lifetimes"
    )  # locating, not importing: lifetimes changes globals on import
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "the CDNOW data ships with lifetimes, which is not installed (pip install lifetimes)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / CDNOW_MASTER_FILE
    if not path.is_file():
        raise InputError(f"CDNOW master data not found at {path}", path=str(path))
    return path


def load_cdnow_master() -> pd.DataFrame:
    """Canonical transactions of CDNOW master, one row per file row, in file order.

    ``order_id`` is ``"{customer_id}-{n}"`` with n the 1-based data row of the file, so every row is its
    own order (same-day rows of one customer stay distinct: they are separate records, not order lines).
    """
    path = cdnow_master_source()
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        dtype={"customer_id": "str", "date": "str", "number_of_cds": "float64", "dollar_value": "float64"},
    )
    expected = ["customer_id", "date", "number_of_cds", "dollar_value"]
    if list(raw.columns) != expected:
        raise InputError(f"{path}: expected columns {expected}, found {list(raw.columns)}", path=str(path))
    customer_id = raw["customer_id"]
    row = pd.Series(range(1, len(raw) + 1), index=raw.index).astype("str")
    return pd.DataFrame(
        {
            "customer_id": customer_id,
            "order_id": customer_id + "-" + row,
            "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d").astype("datetime64[us]"),
            "amount": raw["dollar_value"],
            "quantity": raw["number_of_cds"],
            "is_return": False,
        }
    )


def _cache_dir(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("CHURNKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "churnkit"


def cdnow_csv(cache_dir: str | Path | None = None) -> Path:
    """Write CDNOW master once as a canonical CSV and return its path (the target of ``cdnow:master``).

    The folder is ``cache_dir``, else ``$CHURNKIT_CACHE``, else ``~/.cache/churnkit``. An existing file is
    reused unless it is older than the lifetimes source. The file appears complete or not at all (written to a
    temporary file in the same folder, then renamed).
    """
    source = cdnow_master_source()
    folder = _cache_dir(cache_dir)
    target = folder / CDNOW_CSV_NAME
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    frame = load_cdnow_master().loc[:, list(CSV_COLUMNS)]
    with atomic_path(target) as tmp:  # the file appears complete or not at all
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%d %H:%M:%S", lineterminator="\n")
    return target
