"""Reading and writing tables by file extension, and atomic writes.

Files are CSV or Parquet, chosen by extension. Every output is written to a temporary file in the
target folder and renamed on success, so a failure never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from churnkit.errors import InputError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


def file_format(path: str | Path) -> str:
    """'csv' or 'parquet' from the file name; anything else is a user error."""
    name = str(path).lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise InputError(
        f"{path}: unknown file extension; use .csv (or .csv.gz, .tsv) or .parquet",
        path=str(path),
    )


def resolve_source(path: str | Path) -> Path:
    """Turn a configured input path into a real file, expanding pseudo-paths such as ``cdnow:master``."""
    text = str(path)
    if text.startswith("cdnow:"):
        from churnkit.data.cdnow import cdnow_csv  # imported lazily: only the pseudo-path needs it

        if text != "cdnow:master":
            raise InputError(f"unknown data set {text!r}; the shipped one is 'cdnow:master'", path=text)
        return cdnow_csv()
    return Path(text).expanduser()


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV or Parquet (by extension), atomically."""
    path = Path(path)
    fmt = file_format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, compression="gzip" if str(path).endswith(".gz") else None)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file written by churnkit (ids kept as strings)."""
    path = Path(path)
    fmt = file_format(path)
    if not path.exists():
        raise InputError(f"{path}: file not found", path=str(path))
    if fmt == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"customer_id": str})
