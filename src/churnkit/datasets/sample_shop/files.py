"""Writing a shop's tables as byte-stable CSV or Parquet files."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from churnkit.datasets.sample_shop.shop import SampleShop
from churnkit.errors import ConfigError

__all__ = ["write_shop"]


def write_shop(shop: SampleShop, out_dir: str | Path, *, fmt: str = "csv") -> dict[str, Path]:
    """Write the four tables as ``<table>.csv`` or ``<table>.parquet`` into ``out_dir``; return their paths.

    Files are byte-identical for identical shops: CSV has a plain header, unquoted values,
    ``YYYY-MM-DD HH:MM:SS`` timestamps and ``YYYY-MM-DD`` for signup dates.
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"Unknown output format {fmt!r}: use 'csv' or 'parquet'.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in ("transactions", "events", "customers", "truth"):
        df: pd.DataFrame = getattr(shop, name)
        table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(table, path, compression="zstd")
        else:
            _write_csv(table, path)
        paths[name] = path
    return paths


def _write_csv(table: pa.Table, path: Path) -> None:
    """Plain CSV: unquoted header and values, whole-second timestamps, dates for date columns."""
    columns = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        if name == "signup_date":
            col = col.cast(pa.date32())
        elif pa.types.is_timestamp(col.type):
            with contextlib.suppress(pa.ArrowInvalid):  # whole seconds unless a frame has finer ones
                col = col.cast(pa.timestamp("s"))
        columns.append(col)
    table = pa.table(dict(zip(table.column_names, columns, strict=True)))
    with open(path, "wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        pa_csv.write_csv(table, fh, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
