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
from pathlib import Path

import duckdb
import pandas as pd

from churnkit.config import TableInput
from churnkit.data.io import (
    check_header,
    file_format,
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

Source = str | Path | pd.DataFrame


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
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE _malformed_{name} (source_row BIGINT, reason VARCHAR, raw_line VARCHAR)"
    )
    if isinstance(source, pd.DataFrame):
        check_header([str(c) for c in source.columns], f"the {name} table", name)
        view = f"_frame_{name}"
        con.register(view, source)
        con.sql(f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT *, row_number() OVER () AS _row FROM {view}")
        con.unregister(view)
        return f"the {name} table"
    path = resolve_source(source)
    label = str(source)
    fmt = file_format(path)
    if not path.exists():
        raise InputError(f"{label}: file not found", path=label)
    if path.is_dir() or not path.stat().st_size:
        raise InputError(f"{label}: the file is empty", path=label)
    with contextlib.ExitStack() as stack:
        try:
            if fmt == "csv":
                _read_csv(con, name, path, spec, label, stack)
            else:  # Parquet is read where it lies (a view), numbered by its own row order
                _check_parquet_names(path, label, name)
                con.sql(
                    f"CREATE OR REPLACE TEMP VIEW {raw} AS SELECT * EXCLUDE (file_row_number), "
                    f"file_row_number + 1 AS _row FROM read_parquet({lit(str(path))}, file_row_number=true)"
                )
            con.sql(f"SELECT count(*) FROM {raw}").fetchall()  # a broken file fails here, not later
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None  # Ctrl-C during the read, not a bad file
        except duckdb.Error as e:
            msg = str(e)
            if "unicode" in msg.lower() or "utf-8" in msg.lower() or "encoded" in msg.lower():
                raise not_text_error(label, name, spec.encoding) from None
            first = msg.splitlines()[0] if msg else type(e).__name__
            raise InputError(f"{label}: cannot read the file as {fmt.upper()}: {first}", path=label) from None
    return label


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


def _read_csv(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: Path,
    spec: TableInput,
    label: str,
    stack: contextlib.ExitStack,
) -> None:
    """Read a CSV as text with its own header names; malformed lines go to ``_malformed_<name>``.

    DuckDB reads with the dialect fixed (no sniffing: one bad line must not change how the file is read)
    and ``store_rejects``, which keeps the good lines and records each bad one. A quote that is opened and
    never closed makes any CSV reader take the following lines into that value; when DuckDB reports one,
    the file is re-read line by line (`churnkit.data.io.split_lines`) so only the broken line is set aside.
    """
    raw = f"raw_{name}"
    delimiter = spec.delimiter or ("\t" if str(path).lower().endswith((".tsv", ".tsv.gz")) else None)
    duck_encoding: str | None = None
    text_encoding = spec.encoding  # the encoding Python reads the (possibly transcoded) file in
    if spec.encoding:
        duck_encoding = _DUCKDB_ENCODINGS.get(codecs.lookup(spec.encoding).name)
        if (
            not duck_encoding
        ):  # e.g. cp1252 from Excel: DuckDB reads it only with an extension, Python reads it
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

    def scan(file: Path, columns: list[str], encoding: str | None) -> str:
        struct = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in columns) + "}"
        opts = [
            f"columns={struct}",
            "auto_detect=false",
            "header=true",
            f"delim={lit(delimiter)}",
            "quote='\"'",
            "escape='\"'",
            "store_rejects=true",
            f"rejects_table='_rej_{name}'",
            f"rejects_scan='_rejscan_{name}'",
        ]
        if encoding:
            opts.append(f"encoding={lit(encoding)}")
        return f"read_csv({lit(str(file))}, {', '.join(opts)})"

    con.sql(f"DROP TABLE IF EXISTS _rej_{name}")
    con.sql(f"DROP TABLE IF EXISTS _rejscan_{name}")
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE _read_{name} AS "
        f"SELECT *, row_number() OVER () AS _seq FROM {scan(path, header, duck_encoding)}"
    )
    rejects = con.sql(
        f"SELECT line, min(error_type), min(trim(csv_line, chr(13) || chr(10))) FROM _rej_{name} GROUP BY line ORDER BY line"
    ).fetchall()
    spans = any(
        kind in ("UNQUOTED VALUE", "LINE SIZE OVER MAXIMUM") or "\n" in (text or "") or "\r" in (text or "")
        for _, kind, text in rejects
    )
    if spans:  # a quote left open swallowed the lines after it: read the file line by line instead
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="churnkit-")))
        clean = folder / "lines.csv"
        bad = split_lines(path, clean, delimiter, text_encoding, len(header))
        con.sql(f"DROP TABLE IF EXISTS _rej_{name}")
        con.sql(f"DROP TABLE IF EXISTS _rejscan_{name}")
        line_col = "_churnkit_line"
        con.sql(
            f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT * EXCLUDE ({line_col}), "
            f"CAST({line_col} AS BIGINT) AS _row FROM {scan(clean, [line_col, *header], None)}"
        )
        if bad:
            rows = [(b.source_row, b.reason, b.text) for b in bad]
            con.executemany(f"INSERT INTO _malformed_{name} VALUES (?, ?, ?)", rows)
        con.sql(f"DROP TABLE _read_{name}")
        return
    not_text = not_text_reason(spec.encoding)
    malformed = [(int(line) - 1, _reject_reason(kind, not_text), text) for line, kind, text in rejects]
    if malformed:
        con.executemany(f"INSERT INTO _malformed_{name} VALUES (?, ?, ?)", malformed)
        # the reader numbers only the good lines: shift each past the malformed lines before it. With the
        # bad data rows r_1 < r_2 < ..., good row k is data row k + #{j : r_j - j < k}
        con.sql(
            f"CREATE OR REPLACE TEMP TABLE {raw} AS "
            f"WITH bad AS (SELECT source_row - row_number() OVER (ORDER BY source_row) AS g, "
            f"row_number() OVER (ORDER BY source_row) AS j FROM _malformed_{name}), "
            f"gaps AS (SELECT g, max(j) AS m FROM bad GROUP BY g) "
            f"SELECT r.* EXCLUDE (_seq), r._seq + coalesce(gaps.m, 0) AS _row "
            f"FROM _read_{name} r ASOF LEFT JOIN gaps ON r._seq > gaps.g ORDER BY r._seq"
        )
        con.sql(f"DROP TABLE _read_{name}")
    else:  # renamed in place: no copy of a large table
        con.sql(f"DROP TABLE IF EXISTS {raw}")
        con.sql(f"ALTER TABLE _read_{name} RENAME COLUMN _seq TO _row")
        con.sql(f"ALTER TABLE _read_{name} RENAME TO {raw}")
    con.sql(f"DROP TABLE IF EXISTS _rej_{name}")
    con.sql(f"DROP TABLE IF EXISTS _rejscan_{name}")


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
    con.sql(f"DROP {'VIEW' if is_view(con, raw) else 'TABLE'} IF EXISTS {raw}")
