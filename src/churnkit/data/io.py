"""Reading and writing tables by file extension, and atomic writes.

Files are CSV or Parquet, chosen by extension. Every output is written to a temporary file in the
target folder and renamed on success, so a failure never leaves a half-written file behind.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from churnkit.data.rules import (
    TOO_FEW_FIELDS,
    TOO_MANY_FIELDS,
    UNBALANCED_QUOTE,
    not_text_reason,
)
from churnkit.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


def is_frame(value: object) -> bool:
    """Whether ``value`` is a pandas DataFrame, without importing pandas (a frame means it is imported).

    The commands that read files never need pandas to load them, and importing it costs half a second.
    """
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, pd.DataFrame)


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
        from churnkit.datasets.cdnow import cdnow_csv  # imported lazily: only the pseudo-path needs it

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


def copy_query(con: Any, query: str, path: str | Path) -> int:
    """Write a DuckDB query's rows as CSV or Parquet (by extension) with ``COPY``, atomically; return the count.

    The table goes from the engine to the file without a pandas frame in between. CSV as `write_table` writes
    it (a header, numbers in their shortest round-trip form, ISO dates, blanks for missing values, gzip for
    ``.gz``); in Parquet, the column types pandas would write (dates as timestamps, 64-bit integers).
    """
    path = Path(path)
    fmt = file_format(path)
    if fmt == "parquet":  # the types pandas would write: no HUGEINT (DuckDB writes it as DOUBLE), dates as ms
        as_pandas = {"DATE": "TIMESTAMP_MS", "HUGEINT": "BIGINT", "UHUGEINT": "BIGINT"}
        types = {r[0]: r[1] for r in con.sql(f"DESCRIBE ({query})").fetchall()}
        casts = ", ".join(
            f'CAST("{c}" AS {as_pandas[t]}) AS "{c}"' for c, t in types.items() if t in as_pandas
        )
        if casts:
            query = f"SELECT * REPLACE ({casts}) FROM ({query})"
        options = "FORMAT parquet"
    else:
        gz = ", COMPRESSION gzip" if str(path).lower().endswith(".gz") else ""
        options = f"FORMAT csv, HEADER true{gz}"
    with atomic_path(path) as tmp:
        target = "'" + str(tmp).replace("'", "''") + "'"
        (count,) = con.sql(f"COPY ({query}) TO {target} ({options})").fetchall()[0]
    return int(count)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file written by churnkit (ids kept as strings)."""
    path = Path(path)
    fmt = file_format(path)
    if not path.exists():
        raise InputError(f"{path}: file not found", path=str(path))
    import pandas as pd

    if fmt == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"customer_id": str})


# ---- CSV structure: delimiter, header and malformed lines (shared by both engines) --------------------
QUOTE = '"'


def open_binary(path: str | Path) -> IO[bytes]:
    """A CSV file's bytes, gunzipped when its name ends in .gz."""
    if str(path).lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def sniff_delimiter(path: str | Path) -> str:
    """The delimiter of a CSV's header line: ',' unless the header has none and only ';', tab or '|'."""
    try:
        with open_binary(path) as fh:
            header = fh.readline(65536).decode("utf-8", "replace")
    except (OSError, EOFError, gzip.BadGzipFile):
        return ","
    if "," in header:
        return ","
    counts = {d: header.count(d) for d in (";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def text_codec(encoding: str | None) -> str:
    """The Python codec for reading a CSV: UTF-8 (a byte-order mark skipped) unless configured."""
    if encoding is None or codecs.lookup(encoding).name == "utf-8":
        return "utf-8-sig"
    return encoding


def read_header(path: str | Path, delimiter: str, encoding: str | None) -> list[str] | None:
    """The column names of a CSV's first record (None if the file has no line at all).

    Only the header's own bytes are decoded: raises UnicodeDecodeError when they are not text in ``encoding``.
    """
    codec = text_codec(encoding)
    with open_binary(path) as raw:
        if codecs.lookup(codec).name.startswith("utf-16"):  # not a byte-line encoding
            with io.TextIOWrapper(raw, encoding=codec, newline="") as fh:
                return next(csv.reader(fh, delimiter=delimiter, quotechar=QUOTE), None)
        buffer = b""
        for _ in range(1000):  # a quoted name may hold line breaks: read until the record is complete
            line = raw.readline()
            if not line and not buffer:
                return None
            buffer += line
            text = buffer.decode(codec)
            try:
                return next(
                    csv.reader([text.rstrip("\r\n")], delimiter=delimiter, quotechar=QUOTE, strict=True)
                )
            except csv.Error:
                if not line:
                    break
        return next(csv.reader([buffer.decode(codec).rstrip("\r\n")], delimiter=delimiter, quotechar=QUOTE))


def check_header(columns: list[str], label: str, table: str) -> None:
    """Blank or duplicate column names (case-insensitive, as SQL engines compare them) stop the load."""
    blank = [str(i + 1) for i, c in enumerate(columns) if not c.strip()]
    if blank:
        where = ", ".join(blank)
        raise InputError(
            f"{label}: the {table} header has a blank column name (column {where} of {len(columns)}); "
            "name every column in the file's first line",
            path=label,
        )
    seen: dict[str, list[int]] = {}
    for i, c in enumerate(columns):
        seen.setdefault(c.lower(), []).append(i + 1)
    dups = [(columns[pos[0] - 1], pos) for pos in seen.values() if len(pos) > 1]
    if dups:
        text = "; ".join(f"'{c}' (columns {', '.join(map(str, pos))})" for c, pos in dups)
        raise InputError(
            f"{label}: duplicate column names in the {table} header: {text}; rename them so each is unique",
            path=label,
            column=dups[0][0],
        )


@dataclass
class MalformedLine:
    """A line that is not a record of the table: its data-row number (the header is row 0), reason, text."""

    source_row: int
    reason: str
    text: str


def split_lines(
    path: str | Path, target: Path, delimiter: str, encoding: str | None, n_columns: int
) -> list[MalformedLine]:
    """Rewrite a CSV record by record, one physical line each, into a clean UTF-8 CSV at ``target``.

    Used when a quote opened on one line is never closed: a CSV reader would then read every following
    line as part of that value. Here a value cannot span lines, so only the broken line is set aside.
    ``target`` gets a first column with each kept line's data-row number (header = 0). Lines with
    a bad quote, the wrong number of fields or bytes that do not decode are returned instead.
    """
    bad: list[MalformedLine] = []
    codec = text_codec(encoding)
    decoder_name = "utf-8" if codec == "utf-8-sig" else codec
    with open_binary(path) as raw, open(target, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=delimiter, quotechar=QUOTE, lineterminator="\n")
        fh: Iterator[bytes] | IO[str]
        if codecs.lookup(decoder_name).name.startswith("utf-16"):  # lines are not byte lines: decode first
            fh = io.TextIOWrapper(raw, encoding=codec, newline="")
        else:
            fh = raw
        for number, line in enumerate(fh):
            if isinstance(line, bytes):
                if number == 0 and codec == "utf-8-sig" and line.startswith(codecs.BOM_UTF8):
                    line = line[len(codecs.BOM_UTF8) :]
                try:
                    text = line.decode(decoder_name)
                except UnicodeDecodeError:
                    # undecodable bytes shown as '?', as DuckDB's reader shows them
                    shown = line.decode(decoder_name, "replace").replace("\ufffd", "?").rstrip("\r\n")
                    bad.append(MalformedLine(number, not_text_reason(encoding), shown))
                    continue
            else:
                text = line
            text = text.rstrip("\r\n")
            if number == 0:
                header = next(csv.reader([text], delimiter=delimiter, quotechar=QUOTE))
                writer.writerow(["_line", *header])
                continue
            if not text:
                continue  # a blank line is no record (as the CSV readers skip it)
            try:
                fields = next(csv.reader([text], delimiter=delimiter, quotechar=QUOTE, strict=True))
            except csv.Error:
                bad.append(MalformedLine(number, UNBALANCED_QUOTE, text))
                continue
            if len(fields) != n_columns:
                reason = TOO_MANY_FIELDS if len(fields) > n_columns else TOO_FEW_FIELDS
                bad.append(MalformedLine(number, reason, text))
                continue
            writer.writerow([number, *fields])
    return bad
