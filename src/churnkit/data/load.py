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

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from churnkit.config import InputsConfig, TableInput
from churnkit.data.io import atomic_path, file_format, resolve_source
from churnkit.data.schema import EVENT_TYPES, SCHEMAS
from churnkit.errors import InputError

if TYPE_CHECKING:
    import ibis

_TEXT_TYPES = ("VARCHAR",)
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
                parts.append(f"{t.unknown_event_types:,} unknown event types counted as page_view")
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


def load_shop(
    transactions: Source,
    events: Source | None = None,
    customers: Source | None = None,
    *,
    inputs: InputsConfig | None = None,
    rejected_dir: str | Path | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> ShopData:
    """Load and validate a shop's tables into one DuckDB connection.

    Rejected rows are written to ``<rejected_dir>/<table>_rejected.csv`` (only when there are some and a
    folder is given); they are always counted in the returned report.
    """
    inputs = inputs or InputsConfig()
    con = con or duckdb.connect()
    con.sql("SET TimeZone='UTC'")
    report = LoadReport()
    names = []
    for name, source in (("transactions", transactions), ("events", events), ("customers", customers)):
        if source is None:
            continue
        spec: TableInput = getattr(inputs, name)
        report.tables[name] = _load_table(con, name, source, spec, rejected_dir)
        names.append(name)
    con.sql("SET TimeZone='UTC'")
    return ShopData(con=con, report=report, names=tuple(names))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read_raw(con: duckdb.DuckDBPyConnection, name: str, source: Source, spec: TableInput) -> str:
    """Create the temp table raw_<name> with the source's columns and a 1-based `_row`; return a label."""
    raw = f"raw_{name}"
    if isinstance(source, pd.DataFrame):
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
    if fmt == "csv":
        opts = ["all_varchar=true", "header=true"]
        if spec.delimiter:
            opts.append(f"delim={_lit(spec.delimiter)}")
        elif str(path).lower().endswith(".tsv"):
            opts.append("delim='\\t'")
        if spec.encoding:
            opts.append(f"encoding={_lit(spec.encoding)}")
        scan = f"read_csv({_lit(str(path))}, {', '.join(opts)})"
    else:
        scan = f"read_parquet({_lit(str(path))})"
    try:
        con.sql(f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT *, row_number() OVER () AS _row FROM {scan}")
    except duckdb.Error as e:
        msg = str(e)
        if "unicode" in msg.lower() or "utf-8" in msg.lower():
            raise InputError(
                f"{label}: the file is not UTF-8 text; set inputs.{name}.encoding (e.g. latin-1) in the config",
                path=label,
            ) from None
        first = msg.splitlines()[0] if msg else type(e).__name__
        raise InputError(f"{label}: cannot read the file as {fmt.upper()}: {first}", path=label) from None
    return label


def _column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.sql(f"DESCRIBE {table}").fetchall()}


def _find(columns: dict[str, str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    lower = {c.lower(): c for c in columns}
    return lower.get(wanted.lower())


def _timestamp_expr(col: str, typ: str, fmt: str | None) -> str:
    c = _q(col)
    if typ in _TEXT_TYPES:
        parsed = f"try_strptime(trim({c}), {_lit(fmt)})" if fmt else f"TRY_CAST(trim({c}) AS TIMESTAMPTZ)"
        return f"(TRY_CAST({parsed} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
    if typ.startswith(("TIMESTAMP", "DATE")):
        return f"(CAST({c} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
    return "CAST(NULL AS TIMESTAMP)"


def _number_expr(col: str, typ: str) -> str:
    c = _q(col)
    value = f"TRY_CAST(trim({c}) AS DOUBLE)" if typ in _TEXT_TYPES else f"TRY_CAST({c} AS DOUBLE)"
    return f"(CASE WHEN isfinite({value}) THEN {value} END)"


def _text_expr(col: str) -> str:
    return f"NULLIF(trim(CAST({_q(col)} AS VARCHAR)), '')"


def _is_blank(col: str) -> str:
    return f"({_q(col)} IS NULL OR trim(CAST({_q(col)} AS VARCHAR)) = '')"


def _load_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: Source,
    spec: TableInput,
    rejected_dir: str | Path | None,
) -> TableReport:
    schema = SCHEMAS[name]
    label = _read_raw(con, name, source, spec)
    raw = f"raw_{name}"
    types = _column_types(con, raw)
    types.pop("_row", None)
    rows_read = con.sql(f"SELECT count(*) FROM {raw}").fetchall()[0][0]
    if rows_read == 0:
        raise InputError(f"{label}: the {name} table has no data rows (only a header?)", path=label)

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

    # 1. exact duplicates over all source columns
    cols = ", ".join(_q(c) for c in types)
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE dedup_{name} AS SELECT * FROM {raw} "
        f"QUALIFY row_number() OVER (PARTITION BY {cols} ORDER BY _row) = 1"
    )
    rows_unique = con.sql(f"SELECT count(*) FROM dedup_{name}").fetchall()[0][0]

    # 2. parse canonical columns and give each unusable row a reason
    con.sql(f"SET TimeZone={_lit(spec.timezone)}")
    exprs: dict[str, str] = {}
    reasons: list[tuple[str, str]] = []
    cid = source_of("customer_id")
    exprs["customer_id"] = _text_expr(cid)
    reasons.append((f"{_is_blank(cid)}", "missing customer_id"))
    if name in ("transactions", "events"):
        ts = source_of("timestamp")
        exprs["timestamp"] = _timestamp_expr(ts, types[ts], spec.timestamp_format)
        reasons.append((_is_blank(ts), "missing timestamp"))
        reasons.append((f"{exprs['timestamp']} IS NULL", "unparseable timestamp"))
    if name == "transactions":
        qty_col = _find(types, spec.amount_from.quantity) if spec.amount_from else source_of("quantity")
        qty = _number_expr(qty_col, types[qty_col]) if qty_col else None
        if spec.amount_from is not None:
            price_col = _find(types, spec.amount_from.unit_price)
            price = _number_expr(price_col, types[price_col])
            amount = f"({qty} * {price})"
            reasons.append((f"{qty} IS NULL", "non-numeric quantity"))
            reasons.append((f"{price} IS NULL", "non-numeric unit price"))
        else:
            amt = source_of("amount")
            amount = _number_expr(amt, types[amt])
            reasons.append((_is_blank(amt), "missing amount"))
            reasons.append((f"{amount} IS NULL", "non-numeric amount"))
        order = source_of("order_id")
        order_expr = _text_expr(order) if order else "NULL"
        exprs["order_id"] = f"coalesce({order_expr}, 'row-' || CAST(_row AS VARCHAR))"
        cancelled = (
            f"starts_with({exprs['order_id']}, {_lit(spec.cancel_prefix)})" if spec.cancel_prefix else "false"
        )
        is_return = (
            f"({amount} < 0 OR coalesce({qty} < 0, false) OR {cancelled})"
            if qty
            else f"({amount} < 0 OR {cancelled})"
        )
        exprs["amount"] = f"(CASE WHEN {is_return} THEN -abs({amount}) ELSE {amount} END)"
        exprs["is_return"] = is_return
        if qty:
            exprs["quantity"] = qty
    if name == "events":
        et = source_of("event_type")
        exprs["event_type_raw"] = f"lower({_text_expr(et)})"
        reasons.append((_is_blank(et), "missing event_type"))
        known = ", ".join(_lit(e) for e in EVENT_TYPES)
        exprs["event_type"] = (
            f"(CASE WHEN lower({_text_expr(et)}) IN ({known}) THEN lower({_text_expr(et)}) ELSE 'page_view' END)"
        )
    for optional, typ in schema.optional.items():
        if typ == "VARCHAR" and optional != "order_id":
            src = source_of(optional)
            exprs[optional] = _text_expr(src) if src is not None else "CAST(NULL AS VARCHAR)"
    if name == "customers":
        sd = source_of("signup_date")
        if sd is not None:
            ts = _timestamp_expr(sd, types[sd], None)
            exprs["signup_date"] = f"CAST({ts} AS DATE)"
        used = {cid, sd}
        for col in types:
            if col not in used and col not in spec.columns.values():
                exprs[col] = _q(col)

    reason_sql = "CASE " + " ".join(f"WHEN {cond} THEN {_lit(r)}" for cond, r in reasons) + " END"
    select = ", ".join(f"{e} AS {_q(c)}" for c, e in exprs.items())
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE parsed_{name} AS SELECT {select}, {reason_sql} AS _reason, _row FROM dedup_{name}"
    )
    con.sql("SET TimeZone='UTC'")

    if name == "customers":  # keep the table keyed: a second row for the same customer is set aside
        con.sql(
            f"UPDATE parsed_{name} SET _reason = 'duplicate customer_id' WHERE _reason IS NULL AND _row IN ("
            f"SELECT _row FROM parsed_{name} WHERE _reason IS NULL "
            f"QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY _row) > 1)"
        )

    keep = [c for c in exprs if c != "event_type_raw"]
    con.sql(
        f"CREATE OR REPLACE TABLE {name} AS SELECT {', '.join(_q(c) for c in keep)} FROM parsed_{name} "
        f"WHERE _reason IS NULL ORDER BY _row"
    )
    rejected = dict(
        con.sql(
            f"SELECT _reason, count(*) FROM parsed_{name} WHERE _reason IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    report = TableReport(
        table=name, source=label, rows_read=rows_read, duplicates_dropped=rows_read - rows_unique
    )
    report.rejected = {k: int(v) for k, v in rejected.items()}
    report.rows_loaded = con.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    if name == "transactions":
        report.returns = con.sql("SELECT count(*) FROM transactions WHERE is_return").fetchall()[0][0]
    if name == "events":
        report.unknown_event_types = con.sql(
            f"SELECT count(*) FROM parsed_{name} WHERE _reason IS NULL AND event_type_raw <> event_type"
        ).fetchall()[0][0]
    if report.rejected and rejected_dir is not None:
        report.rejected_file = str(_write_rejected(con, name, rejected_dir))
    if report.rows_loaded == 0 and name != "customers":
        where = f" (see {report.rejected_file})" if report.rejected_file else ""
        reasons = ", ".join(f"{n:,} {r}" for r, n in sorted(report.rejected.items()))
        raise InputError(f"{label}: no usable rows in the {name} table: {reasons}{where}", path=label)
    for tmp in (f"parsed_{name}", f"dedup_{name}", raw):
        con.sql(f"DROP TABLE IF EXISTS {tmp}")
    return report


def _write_rejected(con: duckdb.DuckDBPyConnection, name: str, rejected_dir: str | Path) -> Path:
    """Write the set-aside rows with their original values, source row number and reason."""
    target = Path(rejected_dir) / f"{name}_rejected.csv"
    with atomic_path(target) as tmp:
        con.sql(
            f"COPY (SELECT r._row AS source_row, p._reason AS reason, r.* EXCLUDE (_row) "
            f"FROM parsed_{name} p JOIN raw_{name} r USING (_row) WHERE p._reason IS NOT NULL ORDER BY r._row) "
            f"TO {_lit(str(tmp))} (FORMAT csv, HEADER true)"
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
