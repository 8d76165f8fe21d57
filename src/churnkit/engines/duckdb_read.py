"""Reading a source into DuckDB as it is: CSV as text (malformed lines set aside), Parquet in place, frames.

The first step of the DuckDB loader (`churnkit.engines.duckdb_sql`): it makes the temp table ``raw_<name>`` with
the source's own columns and a 1-based ``_row``, and ``_malformed_<name>`` (source_row, reason, raw_line) for
the CSV lines that are not records of the table. Reason texts come from `churnkit.data.rules`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import duckdb

from churnkit.config import TableInput
from churnkit.data.io import (
    check_header,
    file_format,
    is_frame,
    read_header,
    resolve_source,
    sniff_delimiter,
    split_lines,
)
from churnkit.data.rules import (
    LINE_TOO_LONG,
    MALFORMED_LINE,
    TOO_FEW_FIELDS,
    TOO_MANY_FIELDS,
    UNBALANCED_QUOTE,
    not_text_error,
    not_text_reason,
)
from churnkit.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

Source = Union[str, Path, "pd.DataFrame"]


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_raw(con: duckdb.DuckDBPyConnection, name: str, source: Source, spec: TableInput) -> str:
    """Create the temp table raw_<name> with the source's columns and a 1-based `_row`; return a label.

    Also creates ``_malformed_<name>`` (source_row, reason, raw_line): the CSV lines that are not records
    of the table (wrong number of fields, a broken quote, bytes that are not text), set aside.
    """
    raw = f"raw_{name}"
    new_malformed(con, name)
    if is_frame(source):
        check_header([str(c) for c in source.columns], f"the {name} table", name)
        view = f"_frame_{name}"
        con.register(view, source)
        con.sql(f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT *, row_number() OVER () AS _row FROM {view}")
        con.unregister(view)
        return f"the {name} table"
    path, label, fmt = _existing_file(source)
    with contextlib.ExitStack() as stack, reading(label, name, spec, fmt):
        if fmt == "csv":
            read_csv_raw(con, open_csv(path, spec, label, name, stack))
        else:  # Parquet is read where it lies (a view), numbered by its own row order
            _check_parquet_names(path, label, name)
            con.sql(
                f"CREATE OR REPLACE TEMP VIEW {raw} AS SELECT * EXCLUDE (file_row_number), "
                f"file_row_number + 1 AS _row FROM read_parquet({lit(str(path))}, file_row_number=true)"
            )
        con.sql(f"SELECT count(*) FROM {raw}").fetchall()  # a broken file fails here, not later
    return label


def new_malformed(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """An empty ``_malformed_<name>`` (source_row, reason, raw_line)."""
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE _malformed_{name} (source_row BIGINT, reason VARCHAR, raw_line VARCHAR)"
    )


def _existing_file(source: str | Path) -> tuple[Path, str, str]:
    path = resolve_source(source)
    label = str(source)
    if not path.exists():
        raise InputError(f"{label}: file not found", path=label)
    if path.is_dir() or not path.stat().st_size:
        raise InputError(f"{label}: the file is empty", path=label)
    return path, label, file_format(path)


@contextlib.contextmanager
def reading(label: str, name: str, spec: TableInput, fmt: str = "csv") -> Iterator[None]:
    """DuckDB errors while a file is scanned, as the user's mistakes they are (Ctrl-C stays an interrupt)."""
    try:
        yield
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None  # Ctrl-C during the read, not a bad file
    except duckdb.Error as e:
        msg = str(e)
        if "unicode" in msg.lower() or "utf-8" in msg.lower() or "encoded" in msg.lower():
            raise not_text_error(label, name, spec.encoding) from None
        first = msg.splitlines()[0] if msg else type(e).__name__
        raise InputError(f"{label}: cannot read the file as {fmt.upper()}: {first}", path=label) from None


def _check_parquet_names(path: Path, label: str, name: str) -> None:
    try:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    except Exception:  # not readable by pyarrow: DuckDB's own read gives the message
        return
    check_header(names, label, name)


_REJECT_REASONS = {
    "TOO MANY COLUMNS": TOO_MANY_FIELDS,
    "MISSING COLUMNS": TOO_FEW_FIELDS,
    "UNQUOTED VALUE": UNBALANCED_QUOTE,
    "LINE SIZE OVER MAXIMUM": LINE_TOO_LONG,
}
"""DuckDB's reject error types → the reasons churnkit gives (INVALID ENCODING / UNICODE: not text)."""


def _reject_reason(kind: str, not_text: str) -> str:
    if kind in _REJECT_REASONS:
        return _REJECT_REASONS[kind]
    return not_text if "ENCOD" in kind or "UNICODE" in kind else MALFORMED_LINE


@dataclass
class CsvFile:
    """A CSV file ready to scan: its header, dialect and the DuckDB reader call (`scan`).

    DuckDB reads with the dialect fixed (no sniffing: one bad line must not change how the file is read)
    and ``store_rejects``, which keeps the good lines and records each bad one in ``_rej_<name>``.
    """

    name: str
    path: Path
    label: str
    header: list[str]
    delimiter: str
    duck_encoding: str | None
    text_encoding: str | None  # the encoding Python reads the (possibly transcoded) file in
    spec: TableInput

    def scan(
        self, file: Path | None = None, columns: list[str] | None = None, encoding: str | None = ""
    ) -> str:
        """``read_csv(...)`` of the file (or of ``file``, a rewrite of it) with every column as text."""
        columns = self.header if columns is None else columns
        encoding = self.duck_encoding if encoding == "" else encoding
        struct = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in columns) + "}"
        opts = [
            f"columns={struct}",
            "auto_detect=false",
            "header=true",
            f"delim={lit(self.delimiter)}",
            "quote='\"'",
            "escape='\"'",
            "store_rejects=true",
            f"rejects_table='_rej_{self.name}'",
            f"rejects_scan='_rejscan_{self.name}'",
        ]
        if encoding:
            opts.append(f"encoding={lit(encoding)}")
        return f"read_csv({lit(str(file or self.path))}, {', '.join(opts)})"

    def forget_rejects(self, con: duckdb.DuckDBPyConnection) -> None:
        con.sql(f"DROP TABLE IF EXISTS _rej_{self.name}")
        con.sql(f"DROP TABLE IF EXISTS _rejscan_{self.name}")

    def rejects(self, con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str]] | None:
        """The malformed lines of the last scan as (data row, reason, text); None if a quote left open
        swallowed the lines after it (then only a line-by-line read, `read_lines`, can set it aside)."""
        rows = con.sql(
            f"SELECT line, min(error_type), min(trim(csv_line, chr(13) || chr(10))) FROM _rej_{self.name} "
            "GROUP BY line ORDER BY line"
        ).fetchall()
        self.forget_rejects(con)
        spans = any(
            kind in ("UNQUOTED VALUE", "LINE SIZE OVER MAXIMUM")
            or "\n" in (text or "")
            or "\r" in (text or "")
            for _, kind, text in rows
        )
        if spans:
            return None
        not_text = not_text_reason(self.spec.encoding)
        return [(int(line) - 1, _reject_reason(kind, not_text), text) for line, kind, text in rows]


def csv_source(source: Source, spec: TableInput, name: str, stack: contextlib.ExitStack) -> CsvFile | None:
    """The CSV file behind ``source``, opened for a scan in place; None for a frame or a Parquet file."""
    if is_frame(source):
        return None
    path, label, fmt = _existing_file(source)
    return open_csv(path, spec, label, name, stack) if fmt == "csv" else None


def open_csv(path: Path, spec: TableInput, label: str, name: str, stack: contextlib.ExitStack) -> CsvFile:
    """Check a CSV's header and settle its dialect (a file in an encoding DuckDB lacks is transcoded)."""
    delimiter = spec.delimiter or ("\t" if str(path).lower().endswith((".tsv", ".tsv.gz")) else None)
    duck_encoding: str | None = None
    text_encoding = spec.encoding
    if spec.encoding:
        duck_encoding = _DUCKDB_ENCODINGS.get(codecs.lookup(spec.encoding).name)
        if not duck_encoding:  # e.g. cp1252 from Excel: DuckDB reads it only with an extension, Python does
            path = stack.enter_context(_as_utf8(path, spec.encoding, label))
            text_encoding = None
    delimiter = delimiter or sniff_delimiter(path)
    try:
        header = read_header(path, delimiter, text_encoding)
    except UnicodeError:  # UnicodeDecodeError, or UTF-16 without its byte-order mark
        raise not_text_error(label, name, spec.encoding) from None
    except (OSError, EOFError, csv.Error) as e:
        raise InputError(f"{label}: cannot read the file as CSV: {e}", path=label) from None
    if not header:
        raise InputError(f"{label}: the file is empty", path=label)
    check_header(header, label, name)
    return CsvFile(name, path, label, header, delimiter, duck_encoding, text_encoding, spec)


def record_malformed(con: duckdb.DuckDBPyConnection, name: str, rows: list[tuple[int, str, str]]) -> None:
    if rows:
        con.executemany(f"INSERT INTO _malformed_{name} VALUES (?, ?, ?)", rows)


def numbered(name: str, rows: str) -> str:
    """``rows`` (a query with ``_seq``, 1-based among the lines read) with ``_row``, the data row each is in
    the file: with the malformed data rows r_1 < r_2 < ..., good line k is data row k + #{j : r_j - j < k}."""
    gaps = (
        f"SELECT g, max(j) AS m FROM (SELECT source_row - row_number() OVER (ORDER BY source_row) AS g, "
        f"row_number() OVER (ORDER BY source_row) AS j FROM _malformed_{name}) GROUP BY g"
    )
    return (
        f"SELECT r.* EXCLUDE (_seq), r._seq + coalesce(gaps.m, 0) AS _row "
        f"FROM ({rows}) r ASOF LEFT JOIN ({gaps}) gaps ON r._seq > gaps.g"
    )


def lost_in_quotes(error: duckdb.Error) -> bool:
    """Whether DuckDB's CSV scanner gave up on the file's quoting (seen with a quote left open on a line of
    text with too few fields, thousands of lines into a file): a line-by-line read sets the line aside."""
    return "state machine reached an invalid state" in str(error)


def read_lines(con: duckdb.DuckDBPyConnection, csv_file: CsvFile, stack: contextlib.ExitStack) -> None:
    """raw_<name> from a line-by-line rewrite of the file: a quote that is opened and never closed makes any
    CSV reader take the following lines into that value, so only the broken line is set aside."""
    name = csv_file.name
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="churnkit-")))
    clean = folder / "lines.csv"
    bad = split_lines(csv_file.path, clean, csv_file.delimiter, csv_file.text_encoding, len(csv_file.header))
    line_col = "_churnkit_line"
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE raw_{name} AS SELECT * EXCLUDE ({line_col}), "
        f"CAST({line_col} AS BIGINT) AS _row FROM {csv_file.scan(clean, [line_col, *csv_file.header], None)}"
    )
    csv_file.forget_rejects(con)
    record_malformed(con, name, [(b.source_row, b.reason, b.text) for b in bad])


def read_csv_raw(con: duckdb.DuckDBPyConnection, csv_file: CsvFile) -> None:
    """raw_<name> from a CSV read as text with its own header names; malformed lines to ``_malformed_<name>``."""
    name = csv_file.name
    new_malformed(con, name)
    with reading(csv_file.label, name, csv_file.spec):
        _read_csv(con, name, csv_file)
        con.sql(f"SELECT count(*) FROM raw_{name}").fetchall()


def _read_csv(con: duckdb.DuckDBPyConnection, name: str, csv_file: CsvFile) -> None:
    raw = f"raw_{name}"
    csv_file.forget_rejects(con)
    # the table's rowid is the good lines' order in the file (the scan keeps insertion order): a row number
    # without a window over the whole file, which would run on one thread
    try:
        con.sql(f"CREATE OR REPLACE TEMP TABLE _read_{name} AS SELECT * FROM {csv_file.scan()}")
        malformed = csv_file.rejects(con)
    except duckdb.InvalidInputException as e:
        if not lost_in_quotes(e):
            raise
        csv_file.forget_rejects(con)
        malformed = None
    if malformed is None:  # a quote left open swallowed the lines after it: read the file line by line
        con.sql(f"DROP TABLE IF EXISTS _read_{name}")
        with contextlib.ExitStack() as stack:
            read_lines(con, csv_file, stack)
        return
    record_malformed(con, name, malformed)
    con.sql(f"DROP {'VIEW' if is_view(con, raw) else 'TABLE'} IF EXISTS {raw}")
    if malformed:  # the reader numbers only the good lines: shift each past the malformed lines before it
        con.sql(
            f"CREATE TEMP TABLE {raw} AS "
            f"{numbered(name, f'SELECT *, rowid + 1 AS _seq FROM _read_{name}')} ORDER BY _row"
        )
        con.sql(f"DROP TABLE _read_{name}")
    else:  # a view numbering the lines read: no copy of a large table
        con.sql(f"CREATE TEMP VIEW {raw} AS SELECT *, rowid + 1 AS _row FROM _read_{name}")


_DUCKDB_ENCODINGS = {"utf-8": "utf-8", "utf-16": "utf-16", "iso8859-1": "latin-1"}
"""Python codec names → the encodings DuckDB's CSV reader knows without an extension."""


@contextlib.contextmanager
def _as_utf8(path: Path, encoding: str, label: str) -> Iterator[Path]:
    """A temporary UTF-8 copy of a text file in another encoding, streamed in 1 MiB blocks."""
    with tempfile.TemporaryDirectory(prefix="churnkit-") as tmp:
        target = Path(tmp) / path.name
        try:
            with (
                open(path, encoding=encoding, newline="") as src,
                open(target, "w", encoding="utf-8", newline="") as dst,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
        except UnicodeDecodeError as e:
            raise InputError(
                f"{label}: the file is not {encoding} text ({e.reason}); check the encoding in the config",
                path=label,
            ) from None
        yield target


def column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.sql(f"DESCRIBE {table}").fetchall()}


def is_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.sql(f"SELECT count(*) FROM duckdb_views() WHERE view_name = {lit(name)}").fetchall()[0][0]
    )


def drop_raw(con: duckdb.DuckDBPyConnection, raw: str) -> None:
    """Drop ``raw_<name>`` (a table or a view) and the lines table a CSV view reads from."""
    con.sql(f"DROP {'VIEW' if is_view(con, raw) else 'TABLE'} IF EXISTS {raw}")
    con.sql(f"DROP TABLE IF EXISTS _read_{raw.removeprefix('raw_')}")
