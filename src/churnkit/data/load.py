"""Load, map, validate and quarantine the input tables, in DuckDB.

Every input (CSV, Parquet or a DataFrame) goes through the same steps:

1. read it as it is (CSV as text, so ids keep their leading zeros);
2. map source column names to canonical ones (``inputs.<table>.columns`` in the config); a missing
   required column stops with an `InputError` naming the file and the column;
3. drop exact duplicate rows (counted);
4. parse each canonical column; rows that cannot be used (missing id, unparseable timestamp, non-numeric
   amount, ...) are set aside with their reason and written to ``<table>_rejected.csv``;
5. keep the rest as a canonical table (see `churnkit.data.schema`) inside a DuckDB connection.

Timestamps with an offset are converted to UTC; timestamps without one are read in the table's configured
time zone (UTC by default); dates without a time mean midnight. Negative amounts or quantities, and order ids
with the configured cancel prefix, are returns: kept, flagged ``is_return`` and counted as negative revenue.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from churnkit.config import DuckDBConfig, EventsInput, InputsConfig, TableInput
from churnkit.data.io import (
    LINE_TOO_LONG,
    TOO_FEW_FIELDS,
    TOO_MANY_FIELDS,
    UNBALANCED_QUOTE,
    atomic_path,
    check_header,
    file_format,
    not_text_reason,
    read_header,
    resolve_source,
    sniff_delimiter,
    split_lines,
)
from churnkit.data.schema import SCHEMAS, TIMESTAMP_RANGE, UNKNOWN_EVENTS_SHOWN, event_type_map
from churnkit.errors import ConfigError, InputError

if TYPE_CHECKING:
    import ibis

_TEXT_TYPES = ("VARCHAR",)
_NAIVE_TIME_TYPES = ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE")
OUT_OF_RANGE = f"timestamp out of range (before {TIMESTAMP_RANGE[0]} or from {TIMESTAMP_RANGE[1]})"
_ID_COLUMNS = ("customer_id", "order_id", "session_id", "product_id", "channel", "device")


@dataclass
class TableReport:
    """What happened to one input table on the way in."""

    table: str
    source: str
    rows_read: int = 0
    rows_loaded: int = 0
    duplicates_dropped: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    returns: int = 0
    unknown_event_types: int = 0
    unknown_event_names: dict[str, int] = field(default_factory=dict)
    """The most frequent unknown event names (trimmed, lower case: matching ignores case) with their counts."""
    rejected_file: str | None = None

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())


@dataclass
class LoadReport:
    tables: dict[str, TableReport] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return sum(t.rows_rejected for t in self.tables.values())

    def lines(self) -> list[str]:
        """One plain-language line per table, for the CLI and the run's data summary."""
        out = []
        for t in self.tables.values():
            parts = [f"{t.table}: {t.rows_loaded:,} rows loaded from {t.source}"]
            if t.duplicates_dropped:
                parts.append(f"{t.duplicates_dropped:,} exact duplicates dropped")
            if t.rejected:
                reasons = ", ".join(f"{n:,} {r}" for r, n in sorted(t.rejected.items()))
                parts.append(
                    f"{t.rows_rejected:,} rows set aside ({reasons}) → {t.rejected_file or 'not written'}"
                )
            else:
                parts.append("0 rows set aside")
            if t.returns:
                parts.append(f"{t.returns:,} returns")
            if t.unknown_event_types:
                names = ", ".join(f"{k!r} {n:,}" for k, n in t.unknown_event_names.items())
                top = f" (most frequent: {names}; map them under inputs.events.event_types)" if names else ""
                parts.append(f"{t.unknown_event_types:,} unknown event types counted as page_view{top}")
            out.append("; ".join(parts))
        return out


@dataclass
class ShopData:
    """The canonical tables of one shop, held in a DuckDB connection.

    Tables: ``transactions`` always; ``events`` and ``customers`` when given (see `has`).
    """

    con: duckdb.DuckDBPyConnection
    report: LoadReport
    names: tuple[str, ...]

    def has(self, name: str) -> bool:
        return name in self.names

    def frame(self, name: str) -> pd.DataFrame:
        """A table as a pandas DataFrame."""
        self._check(name)
        return self.con.sql(f'SELECT * FROM "{name}"').df()

    def ibis(self, name: str) -> ibis.Table | None:
        """A table as an Ibis expression on this connection (None if the table was not given)."""
        if name not in self.names:
            return None
        import ibis

        return ibis.duckdb.from_connection(self.con).table(name)

    def date_range(self) -> tuple[dt.date, dt.date]:
        """First and last transaction dates."""
        lo, hi = self.con.sql(
            "SELECT min(timestamp)::DATE, max(timestamp)::DATE FROM transactions"
        ).fetchall()[0]
        return lo, hi

    def _check(self, name: str) -> None:
        if name not in self.names:
            raise InputError(f"no {name} table was given")

    @classmethod
    def from_frames(
        cls,
        transactions: pd.DataFrame,
        events: pd.DataFrame | None = None,
        customers: pd.DataFrame | None = None,
        *,
        inputs: InputsConfig | None = None,
        rejected_dir: str | Path | None = None,
    ) -> ShopData:
        """Validate in-memory tables exactly as files are validated."""
        return load_shop(
            transactions=transactions,
            events=events,
            customers=customers,
            inputs=inputs,
            rejected_dir=rejected_dir,
        )


Source = str | Path | pd.DataFrame

_CONNECTIONS: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()
"""The connections `load_shop` made or was given, so that `interrupt_queries` can reach them."""


def interrupt_queries() -> None:
    """Interrupt every statement running on a shop's DuckDB connection (safe from another thread).

    The statement then raises ``duckdb.InterruptException``. The CLI calls this on Ctrl-C: DuckDB
    runs a statement without returning to Python, so Python's own handler would wait for it to end.
    """
    for con in list(_CONNECTIONS):
        with contextlib.suppress(Exception):  # a closed connection has nothing to interrupt
            con.interrupt()


def load_shop(
    transactions: Source | None,
    events: Source | None = None,
    customers: Source | None = None,
    *,
    inputs: InputsConfig | None = None,
    rejected_dir: str | Path | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    duckdb_config: DuckDBConfig | None = None,
) -> ShopData:
    """Load and validate a shop's tables into one DuckDB connection.

    Rejected rows are written to ``<rejected_dir>/<table>_rejected.csv`` (only when there are some and a
    folder is given); they are always counted in the returned report.

    With ``transactions=None`` and ``inputs.transactions.from_events`` set, the transactions are the purchase
    events of the events source (see `_purchases_spec`).

    A new connection gets ``duckdb_config`` (default `DuckDBConfig`: memory_limit 3GB) and its own spill
    folder, removed when the connection is closed or collected (see `engine_connection`). A connection
    passed as ``con`` keeps its settings unless ``duckdb_config`` is given.
    """
    inputs = inputs or InputsConfig()
    if con is None:
        con = engine_connection(duckdb_config)
    elif duckdb_config is not None:
        _apply_settings(con, duckdb_config)
    _CONNECTIONS.add(con)
    con.sql("SET TimeZone='UTC'")
    report = LoadReport()
    names = []
    derive = inputs.transactions.from_events
    if transactions is None:
        if derive is None or events is None:
            raise InputError(
                "no transactions given: pass a transactions file, or an events file with "
                "inputs.transactions.from_events in the config"
            )
        label = f"{events if not isinstance(events, pd.DataFrame) else 'the events table'}"
        report.tables["transactions"] = _load_table(
            con, "transactions", events, _purchases_spec(inputs), rejected_dir, purchases_of=inputs.events
        )
        report.tables["transactions"].source = f"{label} (its purchase events)"
        names.append("transactions")
    for name, source in (("transactions", transactions), ("events", events), ("customers", customers)):
        if source is None:
            continue
        spec: TableInput = getattr(inputs, name)
        report.tables[name] = _load_table(con, name, source, spec, rejected_dir)
        names.append(name)
    con.sql("SET TimeZone='UTC'")
    return ShopData(con=con, report=report, names=tuple(names))


def _purchases_spec(inputs: InputsConfig) -> TableInput:
    """How to read the events source as transactions: its own columns and options, amount from the price column."""
    ev, derive = inputs.events, inputs.transactions.from_events
    assert derive is not None
    columns = {c: ev.columns.get(c, c) for c in ("customer_id", "timestamp")}
    columns["amount"] = derive.amount
    if derive.order_id:
        columns["order_id"] = derive.order_id
    return TableInput(
        columns=columns,
        timestamp_format=ev.timestamp_format,
        timezone=ev.timezone,
        delimiter=ev.delimiter,
        encoding=ev.encoding,
        cancel_prefix=inputs.transactions.cancel_prefix,
    )


def _keep_purchases(con: duckdb.DuckDBPyConnection, raw: str, label: str, events: TableInput) -> None:
    """Reduce raw_transactions (read from the events source) to its purchase events."""
    types = _column_types(con, raw)
    wanted = events.columns.get("event_type", "event_type")
    col = _find(types, wanted)
    if col is None:
        raise InputError(
            f"{label}: column '{wanted}' (event_type, to find the purchase events) not found; "
            f"columns present: {', '.join(c for c in types if c != '_row')}",
            path=label,
            column="event_type",
        )
    mapping = event_type_map(events.vocabulary, events.event_types)
    names = ", ".join(_lit(src) for src, dst in mapping.items() if dst == "purchase")
    kind = f"lower(trim(CAST({_q(col)} AS VARCHAR)))"
    con.sql(f"CREATE OR REPLACE TEMP TABLE _purchases AS SELECT * FROM {raw} WHERE {kind} IN ({names})")
    con.sql(f"DROP {'VIEW' if _is_view(con, raw) else 'TABLE'} {raw}")
    con.sql(f"ALTER TABLE _purchases RENAME TO {raw}")
    con.sql("DELETE FROM _malformed_transactions")  # the events table reports the file's malformed lines


def engine_connection(settings: DuckDBConfig | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a memory limit and a spill folder of its own.

    DuckDB's default limit is 80 % of RAM; with a limit it spills sorts, joins and aggregates to disk
    instead. The folder is made under ``settings.temp_directory`` (default: the system temp folder) and
    removed when the connection is closed and collected, or at exit.
    """
    settings = settings or DuckDBConfig()
    parent = settings.temp_directory
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    spill = tempfile.mkdtemp(prefix="churnkit-duckdb-", dir=parent)
    try:
        con = duckdb.connect(config={"memory_limit": settings.memory_limit, "temp_directory": spill})
    except duckdb.Error as e:
        shutil.rmtree(spill, ignore_errors=True)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"invalid duckdb settings: {first}") from None
    weakref.finalize(con, shutil.rmtree, spill, ignore_errors=True)
    return con


def _apply_settings(con: duckdb.DuckDBPyConnection, settings: DuckDBConfig) -> None:
    try:
        con.sql(f"SET memory_limit = {_lit(settings.memory_limit)}")
        if settings.temp_directory is not None:
            Path(settings.temp_directory).mkdir(parents=True, exist_ok=True)
            con.sql(f"SET temp_directory = {_lit(settings.temp_directory)}")
    except duckdb.Error as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"invalid duckdb settings: {first}") from None


def spill_directory(con: duckdb.DuckDBPyConnection) -> str:
    """The folder a connection spills to (``temp_directory``)."""
    return str(con.sql("SELECT current_setting('temp_directory')").fetchall()[0][0])


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read_raw(con: duckdb.DuckDBPyConnection, name: str, source: Source, spec: TableInput) -> str:
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
                    f"file_row_number + 1 AS _row FROM read_parquet({_lit(str(path))}, file_row_number=true)"
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
    return not_text if "ENCOD" in kind or "UNICODE" in kind else "malformed line"


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
        struct = "{" + ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in columns) + "}"
        opts = [
            f"columns={struct}",
            "auto_detect=false",
            "header=true",
            f"delim={_lit(delimiter)}",
            "quote='\"'",
            "escape='\"'",
            "store_rejects=true",
            f"rejects_table='_rej_{name}'",
            f"rejects_scan='_rejscan_{name}'",
        ]
        if encoding:
            opts.append(f"encoding={_lit(encoding)}")
        return f"read_csv({_lit(str(file))}, {', '.join(opts)})"

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


def not_text_error(label: str, name: str, encoding: str | None) -> InputError:
    """The error for a CSV file that does not decode in its configured encoding (both engines)."""
    return InputError(
        f"{label}: the file is not {encoding or 'UTF-8'} text; set inputs.{name}.encoding "
        "(e.g. latin-1 or cp1252) in the config",
        path=label,
    )


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


def _column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.sql(f"DESCRIBE {table}").fetchall()}


def _find(columns: dict[str, str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    lower = {c.lower(): c for c in columns}
    return lower.get(wanted.lower())


def _timestamp_expr(col: str, typ: str, fmt: str | None, timezone: str = "UTC") -> str:
    c = _q(col)
    if typ in _TEXT_TYPES:
        parsed = f"try_strptime(trim({c}), {_lit(fmt)})" if fmt else f"TRY_CAST(trim({c}) AS TIMESTAMPTZ)"
        return f"(TRY_CAST({parsed} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
    if timezone == "UTC" and typ in _NAIVE_TIME_TYPES:  # already UTC wall clock: no time-zone arithmetic
        return c if typ == "TIMESTAMP" else f"CAST({c} AS TIMESTAMP)"
    if typ.startswith(("TIMESTAMP", "DATE")):
        return f"(CAST({c} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
    return "CAST(NULL AS TIMESTAMP)"


def _number_expr(col: str, typ: str) -> str:
    c = _q(col)
    value = f"TRY_CAST(trim({c}) AS DOUBLE)" if typ in _TEXT_TYPES else f"TRY_CAST({c} AS DOUBLE)"
    return f"(CASE WHEN isfinite({value}) THEN {value} END)"


def _text_expr(col: str, typ: str = "VARCHAR") -> str:
    text = _q(col) if typ in _TEXT_TYPES else f"CAST({_q(col)} AS VARCHAR)"
    return f"NULLIF(trim({text}), '')"


def _is_blank(col: str, typ: str = "VARCHAR") -> str:
    if typ not in _TEXT_TYPES:  # a number or a timestamp is blank only when missing
        return f"({_q(col)} IS NULL)"
    return f"({_q(col)} IS NULL OR trim({_q(col)}) = '')"


def _load_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: Source,
    spec: TableInput,
    rejected_dir: str | Path | None,
    *,
    purchases_of: EventsInput | None = None,
) -> TableReport:
    schema = SCHEMAS[name]
    label = _read_raw(con, name, source, spec)
    raw = f"raw_{name}"
    if purchases_of is not None:
        _keep_purchases(con, raw, label, purchases_of)
    types = _column_types(con, raw)
    types.pop("_row", None)
    rows_read = con.sql(f"SELECT count(*) FROM {raw}").fetchall()[0][0]
    malformed = dict(con.sql(f"SELECT reason, count(*) FROM _malformed_{name} GROUP BY 1").fetchall())
    if rows_read == 0 and purchases_of is not None:
        raise InputError(
            f"{label}: no purchase events to derive transactions from (event types mapped to purchase: "
            f"{', '.join(s for s, d in event_type_map(purchases_of.vocabulary, purchases_of.event_types).items() if d == 'purchase')})",
            path=label,
        )
    if rows_read == 0:
        if not malformed:
            raise InputError(f"{label}: the {name} table has no data rows (only a header?)", path=label)
        where = ""
        if rejected_dir is not None:
            where = f" (see {_write_malformed_only(con, name, rejected_dir)})"
        reasons_text = ", ".join(f"{n:,} {r}" for r, n in sorted(malformed.items()))
        raise InputError(
            f"{label}: no usable rows in the {name} table: every line is malformed ({reasons_text}){where}",
            path=label,
        )

    def source_of(canonical: str) -> str | None:
        return _find(types, spec.columns.get(canonical, canonical))

    required = dict(schema.required)
    if name == "transactions" and spec.amount_from is not None:
        required.pop("amount")
        for part in (spec.amount_from.quantity, spec.amount_from.unit_price):
            if _find(types, part) is None:
                raise InputError(
                    f"{label}: column '{part}' (for amount = quantity × unit price) not found; "
                    f"columns present: {', '.join(types)}",
                    path=label,
                    column=part,
                )
    for canonical in required:
        if source_of(canonical) is None:
            wanted = spec.columns.get(canonical, canonical)
            mapped = f" (mapped from source column '{wanted}')" if wanted != canonical else ""
            raise InputError(
                f"{label}: required column '{canonical}'{mapped} not found; columns present: {', '.join(types)}. "
                f"Map it under inputs.{name}.columns in the config.",
                path=label,
                column=canonical,
            )

    # 1. parse each canonical column once, in one scan, and give each unusable row a reason
    con.sql(f"SET TimeZone={_lit(spec.timezone)}")
    exprs: dict[str, str] = {}
    blank: dict[str, str] = {}  # flags that need the source value, computed beside the parsed columns
    reasons: list[tuple[str, str]] = []
    cid = source_of("customer_id")
    exprs["customer_id"] = _text_expr(cid, types[cid])
    reasons.append(("customer_id IS NULL", "missing customer_id"))
    if name in ("transactions", "events"):
        ts = source_of("timestamp")
        exprs["timestamp"] = _timestamp_expr(ts, types[ts], spec.timestamp_format, spec.timezone)
        blank["_blank_ts"] = _is_blank(ts, types[ts])
        reasons.append(("_blank_ts", "missing timestamp"))
        reasons.append(('"timestamp" IS NULL', "unparseable timestamp"))
        lo, hi = (f"TIMESTAMP {_lit(d)}" for d in TIMESTAMP_RANGE)
        reasons.append((f'NOT ("timestamp" >= {lo} AND "timestamp" < {hi})', OUT_OF_RANGE))
    if name == "transactions":
        qty_col = _find(types, spec.amount_from.quantity) if spec.amount_from else source_of("quantity")
        if qty_col:
            exprs["quantity"] = _number_expr(qty_col, types[qty_col])
        if spec.amount_from is not None:
            price_col = _find(types, spec.amount_from.unit_price)
            exprs["_price"] = _number_expr(price_col, types[price_col])
            exprs["_amount"] = f"({exprs['quantity']} * {exprs['_price']})"
            reasons.append(('"quantity" IS NULL', "non-numeric quantity"))
            reasons.append(('"_price" IS NULL', "non-numeric unit price"))
        else:
            amt = source_of("amount")
            exprs["_amount"] = _number_expr(amt, types[amt])
            blank["_blank_amount"] = _is_blank(amt, types[amt])
            reasons.append(("_blank_amount", "missing amount"))
            reasons.append(('"_amount" IS NULL', "non-numeric amount"))
        order = source_of("order_id")
        order_expr = _text_expr(order, types[order]) if order else "NULL"
        exprs["order_id"] = f"coalesce({order_expr}, 'row-' || CAST(_row AS VARCHAR))"
    if name == "events":
        et = source_of("event_type")
        exprs["_event_type"] = f"lower({_text_expr(et, types[et])})"
        reasons.append(('"_event_type" IS NULL', "missing event_type"))
    for optional, typ in schema.optional.items():
        if typ == "VARCHAR" and optional != "order_id":
            src = source_of(optional)
            exprs[optional] = _text_expr(src, types[src]) if src is not None else "CAST(NULL AS VARCHAR)"
    if name == "customers":
        sd = source_of("signup_date")
        if sd is not None:
            ts = _timestamp_expr(sd, types[sd], None, spec.timezone)
            exprs["signup_date"] = f"CAST({ts} AS DATE)"
        used = {cid, sd}
        for col in types:
            if col not in used and col not in spec.columns.values():
                exprs[col] = _q(col)

    # derived columns, from the parsed ones (the outer query reads the inner one's results)
    derived: dict[str, str] = {}
    if name == "transactions":
        cancelled = f'starts_with("order_id", {_lit(spec.cancel_prefix)})' if spec.cancel_prefix else "false"
        qty_negative = 'coalesce("quantity" < 0, false) OR ' if "quantity" in exprs else ""
        is_return = f'("_amount" < 0 OR {qty_negative}{cancelled})'
        derived["amount"] = f'(CASE WHEN {is_return} THEN -abs("_amount") ELSE "_amount" END)'
        derived["is_return"] = is_return
    if name == "events":
        mapping = event_type_map(getattr(spec, "vocabulary", None), getattr(spec, "event_types", None))
        known = ", ".join(_lit(e) for e in mapping)
        cases = " ".join(f"WHEN {_lit(src)} THEN {_lit(dst)}" for src, dst in mapping.items())
        derived["event_type"] = f"""(CASE "_event_type" {cases} ELSE 'page_view' END)"""
        derived["_unknown_type"] = f'("_event_type" NOT IN ({known}))'
        derived["_unknown_name"] = f'(CASE WHEN "_event_type" NOT IN ({known}) THEN "_event_type" END)'
    canonical = [c for c in [*exprs, *derived] if not c.startswith("_")]
    order_first = ["customer_id", "timestamp", "order_id", "amount", "is_return", "event_type"]
    keep = [c for c in order_first if c in canonical] + [c for c in canonical if c not in order_first]
    reason_sql = "CASE " + " ".join(f"WHEN {cond} THEN {_lit(r)}" for cond, r in reasons) + " END"
    row_hash = f"hash({', '.join(_q(c) for c in types)})"  # duplicates are exact over the source columns
    inner = ", ".join(
        [f"{e} AS {_q(c)}" for c, e in exprs.items()]
        + [f"{e} AS {_q(c)}" for c, e in blank.items()]
        + [f"{row_hash} AS _h", "_row"]
    )
    extra = ["_unknown_type", "_unknown_name"] if name == "events" else []
    outer = ", ".join(
        [f"{derived.get(c, _q(c))} AS {_q(c)}" for c in keep]
        + [f"{derived[c]} AS {c}" for c in extra]
        + [f"{reason_sql} AS _reason", "_h", "_row"]
    )
    con.sql(f"CREATE OR REPLACE TABLE {name} AS SELECT {outer} FROM (SELECT {inner} FROM {raw})")
    con.sql("SET TimeZone='UTC'")

    # 2. exact duplicates: rows sharing a hash are compared column by column; the first copy stays
    duplicates = _drop_duplicates(con, name, raw, list(types))

    if name == "customers":  # keep the table keyed: a second row for the same customer is set aside
        con.sql(
            f"UPDATE {name} SET _reason = 'duplicate customer_id' WHERE _reason IS NULL AND _row IN ("
            f"SELECT _row FROM {name} WHERE _reason IS NULL "
            f"QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY _row) > 1)"
        )

    rejected = dict(
        con.sql(f"SELECT _reason, count(*) FROM {name} WHERE _reason IS NOT NULL GROUP BY 1").fetchall()
    )
    for reason, n in malformed.items():
        rejected[reason] = rejected.get(reason, 0) + n
    report = TableReport(
        table=name, source=label, rows_read=rows_read + sum(malformed.values()), duplicates_dropped=duplicates
    )
    report.rejected = {k: int(v) for k, v in rejected.items()}
    if report.rejected and rejected_dir is not None:
        report.rejected_file = str(_write_rejected(con, name, rejected_dir))
    if report.rejected:
        con.sql(f"DELETE FROM {name} WHERE _reason IS NOT NULL")
    if name == "events":
        report.unknown_event_types = con.sql(f"SELECT count(*) FROM {name} WHERE _unknown_type").fetchall()[
            0
        ][0]
        if report.unknown_event_types:
            report.unknown_event_names = dict(
                con.sql(
                    f"SELECT _unknown_name, count(*) AS n FROM {name} WHERE _unknown_type "
                    f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {UNKNOWN_EVENTS_SHOWN}"
                ).fetchall()
            )
    con.sql(f"ALTER TABLE {name} DROP COLUMN _reason")
    for helper in ("_h", "_row", *extra):
        con.sql(f"ALTER TABLE {name} DROP COLUMN {helper}")
    con.sql(f"DROP {'VIEW' if _is_view(con, raw) else 'TABLE'} IF EXISTS {raw}")
    con.sql(f"DROP TABLE IF EXISTS _malformed_{name}")
    report.rows_loaded = con.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    if name == "transactions":
        report.returns = con.sql("SELECT count(*) FROM transactions WHERE is_return").fetchall()[0][0]
    if report.rows_loaded == 0 and name != "customers":
        where = f" (see {report.rejected_file})" if report.rejected_file else ""
        reasons_text = ", ".join(f"{n:,} {r}" for r, n in sorted(report.rejected.items()))
        raise InputError(f"{label}: no usable rows in the {name} table: {reasons_text}{where}", path=label)
    return report


def _is_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.sql(f"SELECT count(*) FROM duckdb_views() WHERE view_name = {_lit(name)}").fetchall()[0][0]
    )


def _drop_duplicates(con: duckdb.DuckDBPyConnection, name: str, raw: str, columns: list[str]) -> int:
    """Delete all but the first copy (lowest source row) of exact duplicate rows; return how many went.

    Only rows whose hash is shared are compared on their source values, so the usual case (no
    duplicates) costs one sort of a 64-bit column.
    """
    shared = con.sql(
        f"SELECT count(*) FROM (SELECT _h, lag(_h) OVER (ORDER BY _h) AS _prev FROM {name}) WHERE _h = _prev"
    ).fetchall()[0][0]
    if not shared:
        return 0
    cols = ", ".join(f"r.{_q(c)}" for c in columns)
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE _dups_{name} AS SELECT r._row FROM {raw} r SEMI JOIN ("
        f"SELECT t._row FROM {name} t WHERE t._h IN (SELECT _h FROM {name} GROUP BY _h HAVING count(*) > 1)"
        f") c ON r._row = c._row "
        f"QUALIFY row_number() OVER (PARTITION BY {cols} ORDER BY r._row) > 1"
    )
    dropped = con.sql(f"SELECT count(*) FROM _dups_{name}").fetchall()[0][0]
    if dropped:
        con.sql(f"DELETE FROM {name} WHERE _row IN (SELECT _row FROM _dups_{name})")
    con.sql(f"DROP TABLE _dups_{name}")
    return int(dropped)


def _write_rejected(con: duckdb.DuckDBPyConnection, name: str, rejected_dir: str | Path) -> Path:
    """Write the set-aside rows with their original values, source row number and reason.

    Malformed lines (no values to split) come with their text in a last column ``raw_line``.
    """
    target = Path(rejected_dir) / f"{name}_rejected.csv"
    rows = (
        f"SELECT r._row AS source_row, p._reason AS reason, r.* EXCLUDE (_row) "
        f"FROM {name} p JOIN raw_{name} r USING (_row) WHERE p._reason IS NOT NULL"
    )
    if con.sql(f"SELECT count(*) FROM _malformed_{name}").fetchall()[0][0]:
        rows = f"{rows} UNION ALL BY NAME SELECT source_row, reason, raw_line FROM _malformed_{name}"
    with atomic_path(target) as tmp:
        con.sql(
            f"COPY (SELECT * FROM ({rows}) ORDER BY source_row) TO {_lit(str(tmp))} (FORMAT csv, HEADER true)"
        )
    return target


def _write_malformed_only(con: duckdb.DuckDBPyConnection, name: str, rejected_dir: str | Path) -> Path:
    """The rejected-rows file of a table whose every line is malformed."""
    target = Path(rejected_dir) / f"{name}_rejected.csv"
    with atomic_path(target) as tmp:
        con.sql(
            f"COPY (SELECT * FROM _malformed_{name} ORDER BY source_row) TO {_lit(str(tmp))} "
            "(FORMAT csv, HEADER true)"
        )
    return target


def summary(data: ShopData, *, as_of: dt.date | None = None) -> dict[str, Any]:
    """Plain facts about the loaded data (rows, dates, buyers), used by `validate` and the run summary.

    Written in Ibis, so it runs on whichever engine holds the tables (DuckDB or Spark).
    """
    tx = data.ibis("transactions")
    row = (
        tx.aggregate(
            n=tx.count(), lo=tx.timestamp.min(), hi=tx.timestamp.max(), customers=tx.customer_id.nunique()
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    buys = tx.filter(~tx.is_return)
    per = buys.group_by("customer_id").aggregate(n=buys.order_id.nunique())
    buyers = per.aggregate(one=(per.n == 1).sum(), repeat=(per.n > 1).sum()).to_pyarrow().to_pylist()[0]
    out: dict[str, Any] = {
        "transactions": int(row["n"]),
        "first_timestamp": str(row["lo"]),
        "last_timestamp": str(row["hi"]),
        "customers": int(row["customers"]),
        "one_time_buyers": int(buyers["one"] or 0),
        "repeat_buyers": int(buyers["repeat"] or 0),
        "rows_rejected": data.report.rows_rejected,
    }
    if data.has("events"):
        ev = data.ibis("events")
        counts = ev.aggregate(n=ev.count(), visitors=ev.customer_id.nunique()).to_pyarrow().to_pylist()[0]
        known = (
            ev.select("customer_id").distinct().semi_join(tx.select("customer_id").distinct(), "customer_id")
        )
        with_events = int(known.count().to_pyarrow().as_py())
        out["events"] = int(counts["n"])
        out["buyers_with_events"] = with_events
        out["browsing_only_prospects"] = int(counts["visitors"]) - with_events
    if data.has("customers"):
        out["customer_rows"] = int(data.ibis("customers").count().to_pyarrow().as_py())
    return out
