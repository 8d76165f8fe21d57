"""The DuckDB backend of the loader: the rules of `churnkit.data.rules` as SQL, one table at a time.

`load_table` reads a source (`churnkit.engines.duckdb_read`), maps its columns, parses every canonical column
and gives each unusable row its reason in one scan (``CREATE TABLE <name> AS SELECT ...``), drops exact
duplicates, writes the rows set aside to ``<table>_rejected.csv`` and returns the table's `TableReport`.
The canonical table stays in the connection; `churnkit.data.load.load_shop` wraps the connection as a shop.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from churnkit.config import EventsInput, TableInput
from churnkit.data.io import atomic_path
from churnkit.data.report import TableReport
from churnkit.data.rules import (
    Check,
    TableRules,
    all_malformed_error,
    find_column,
    missing_column,
    no_rows_error,
    no_usable_rows_error,
    other_columns,
    source_columns,
    table_rules,
)
from churnkit.data.schema import TIMESTAMP_RANGE, UNKNOWN_EVENTS_SHOWN, event_type_map
from churnkit.engines.duckdb_read import Source, column_types, drop_raw, is_view, lit, q, read_raw
from churnkit.errors import InputError

_TEXT_TYPES = ("VARCHAR",)
_NAIVE_TIME_TYPES = ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE")
_INNER = {"amount": "_amount", "unit_price": "_price", "event_type": "_event_type"}
"""Parsed columns that the outer query derives a canonical column from keep these inner names."""


# ---- parsers: one SQL expression per kind -----------------------------------------------------------
def timestamp_expr(col: str, typ: str, fmt: str | None, timezone: str = "UTC") -> str:
    c = q(col)
    if typ in _TEXT_TYPES:
        parsed = f"try_strptime(trim({c}), {lit(fmt)})" if fmt else f"TRY_CAST(trim({c}) AS TIMESTAMPTZ)"
        return f"(TRY_CAST({parsed} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
    if timezone == "UTC" and typ in _NAIVE_TIME_TYPES:  # already UTC wall clock: no time-zone arithmetic
        return c if typ == "TIMESTAMP" else f"CAST({c} AS TIMESTAMP)"
    if typ.startswith(("TIMESTAMP", "DATE")):
        return f"(CAST({c} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
    return "CAST(NULL AS TIMESTAMP)"


def number_expr(col: str, typ: str) -> str:
    c = q(col)
    value = f"TRY_CAST(trim({c}) AS DOUBLE)" if typ in _TEXT_TYPES else f"TRY_CAST({c} AS DOUBLE)"
    return f"(CASE WHEN isfinite({value}) THEN {value} END)"


def text_expr(col: str, typ: str = "VARCHAR") -> str:
    text = q(col) if typ in _TEXT_TYPES else f"CAST({q(col)} AS VARCHAR)"
    return f"NULLIF(trim({text}), '')"


def blank_expr(col: str, typ: str = "VARCHAR") -> str:
    if typ not in _TEXT_TYPES:  # a number or a timestamp is blank only when missing
        return f"({q(col)} IS NULL)"
    return f"({q(col)} IS NULL OR trim({q(col)}) = '')"


def _check_sql(check: Check) -> str:
    column = q(_INNER.get(check.column, check.column))
    if check.test == "blank":
        return f"_blank_{check.column}"
    if check.test == "range":
        lo, hi = (f"TIMESTAMP {lit(d)}" for d in TIMESTAMP_RANGE)
        return f"NOT ({column} >= {lo} AND {column} < {hi})"
    return f"{column} IS NULL"


def _select(rules: TableRules, spec: TableInput, types: dict[str, str], label: str, raw: str) -> str:
    """The one query that parses a raw table: canonical columns, ``_reason``, the row hash and ``_row``."""
    src = source_columns(rules, spec, list(types), label)
    inner: dict[str, str] = {}  # parsed from the source, one scan
    derived: dict[str, str] = {}  # from the parsed columns (the outer query reads the inner one's results)
    if "quantity" in src:
        inner["quantity"] = number_expr(src["quantity"], types[src["quantity"]])
    for rule in rules.columns:
        s = src.get(rule.name)
        if rule.kind == "text":
            inner[rule.name] = text_expr(s, types[s]) if s is not None else "CAST(NULL AS VARCHAR)"
        elif rule.kind == "timestamp":
            inner[rule.name] = timestamp_expr(s, types[s], spec.timestamp_format, spec.timezone)
        elif rule.kind == "date" and s is not None:
            inner[rule.name] = f"CAST({timestamp_expr(s, types[s], None, spec.timezone)} AS DATE)"
        elif rule.kind == "order_id":
            order = text_expr(s, types[s]) if s is not None else "NULL"
            inner[rule.name] = f"coalesce({order}, 'row-' || CAST(_row AS VARCHAR))"
        elif rule.kind == "amount" and "unit_price" in src:
            inner["_price"] = number_expr(src["unit_price"], types[src["unit_price"]])
            inner["_amount"] = f"({inner['quantity']} * {inner['_price']})"
        elif rule.kind == "amount":
            inner["_amount"] = number_expr(s, types[s])
        elif rule.kind == "event_type":
            inner["_event_type"] = f"lower({text_expr(s, types[s])})"
    for check in rules.checks:
        if check.test == "blank":
            s = src[check.column]
            inner[f"_blank_{check.column}"] = blank_expr(s, types[s])
    if rules.name == "transactions":
        cancelled = f'starts_with("order_id", {lit(spec.cancel_prefix)})' if spec.cancel_prefix else "false"
        qty_negative = 'coalesce("quantity" < 0, false) OR ' if "quantity" in inner else ""
        is_return = f'("_amount" < 0 OR {qty_negative}{cancelled})'
        derived["amount"] = f'(CASE WHEN {is_return} THEN -abs("_amount") ELSE "_amount" END)'
        derived["is_return"] = is_return
    extra: dict[str, str] = {}
    if rules.name == "events":
        mapping = event_type_map(getattr(spec, "vocabulary", None), getattr(spec, "event_types", None))
        known = ", ".join(lit(e) for e in mapping)
        cases = " ".join(f"WHEN {lit(s)} THEN {lit(d)}" for s, d in mapping.items())
        derived["event_type"] = f"""(CASE "_event_type" {cases} ELSE 'page_view' END)"""
        extra["_unknown_type"] = f'("_event_type" NOT IN ({known}))'
        extra["_unknown_name"] = f'(CASE WHEN "_event_type" NOT IN ({known}) THEN "_event_type" END)'
    for col in other_columns(rules, spec, list(types), src):
        inner[col] = q(col)
    keep = [c.name for c in rules.columns if c.name in inner or c.name in derived]
    keep += [c for c in inner if c not in keep and not c.startswith("_")]
    reason = "CASE " + " ".join(f"WHEN {_check_sql(c)} THEN {lit(c.reason)}" for c in rules.checks) + " END"
    row_hash = f"hash({', '.join(q(c) for c in types)})"  # duplicates are exact over the source columns
    parsed = ", ".join([f"{e} AS {q(c)}" for c, e in inner.items()] + [f"{row_hash} AS _h", "_row"])
    outer = ", ".join(
        [f"{derived.get(c, q(c))} AS {q(c)}" for c in keep]
        + [f"{e} AS {c}" for c, e in extra.items()]
        + [f"{reason} AS _reason", "_h", "_row"]
    )
    return f"SELECT {outer} FROM (SELECT {parsed} FROM {raw})"


# ---- one table --------------------------------------------------------------------------------------
def load_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: Source,
    spec: TableInput,
    rejected_dir: str | Path | None,
    *,
    purchases_of: EventsInput | None = None,
) -> TableReport:
    """Load one table into ``con`` as the canonical table ``name`` and report what happened to its rows."""
    rules = table_rules(name, spec)
    label = read_raw(con, name, source, spec)
    raw = f"raw_{name}"
    if purchases_of is not None:
        _keep_purchases(con, raw, label, purchases_of)
    types = column_types(con, raw)
    types.pop("_row", None)
    rows_read = con.sql(f"SELECT count(*) FROM {raw}").fetchall()[0][0]
    malformed = dict(con.sql(f"SELECT reason, count(*) FROM _malformed_{name} GROUP BY 1").fetchall())
    if rows_read == 0 and purchases_of is not None:
        raise InputError(
            f"{label}: no purchase events to derive transactions from (event types mapped to purchase: "
            f"{', '.join(_purchase_names(purchases_of))})",
            path=label,
        )
    if rows_read == 0:
        if not malformed:
            raise no_rows_error(label, name)
        where = ""
        if rejected_dir is not None:
            where = f" (see {_write_malformed_only(con, name, rejected_dir)})"
        raise all_malformed_error(label, name, malformed, where)

    # 1. parse each canonical column once, in one scan, and give each unusable row a reason
    query = _select(rules, spec, types, label, raw)
    con.sql(f"SET TimeZone={lit(spec.timezone)}")
    con.sql(f"CREATE OR REPLACE TABLE {name} AS {query}")
    con.sql("SET TimeZone='UTC'")

    # 2. exact duplicates: rows sharing a hash are compared column by column; the first copy stays
    duplicates = _drop_duplicates(con, name, raw, list(types))
    if rules.unique is not None:  # keep the table keyed: a second row for the same key is set aside
        key = q(rules.unique.column)
        con.sql(
            f"UPDATE {name} SET _reason = {lit(rules.unique.reason)} WHERE _reason IS NULL AND _row IN ("
            f"SELECT _row FROM {name} WHERE _reason IS NULL "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _row) > 1)"
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
    extra = ("_unknown_type", "_unknown_name") if name == "events" else ()
    if name == "events":
        n = con.sql(f"SELECT count(*) FROM {name} WHERE _unknown_type").fetchall()[0][0]
        report.unknown_event_types = n
        if n:
            report.unknown_event_names = dict(
                con.sql(
                    f"SELECT _unknown_name, count(*) AS n FROM {name} WHERE _unknown_type "
                    f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {UNKNOWN_EVENTS_SHOWN}"
                ).fetchall()
            )
    con.sql(f"ALTER TABLE {name} DROP COLUMN _reason")
    for helper in ("_h", "_row", *extra):
        con.sql(f"ALTER TABLE {name} DROP COLUMN {helper}")
    drop_raw(con, raw)
    con.sql(f"DROP TABLE IF EXISTS _malformed_{name}")
    report.rows_loaded = con.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    if name == "transactions":
        report.returns = con.sql("SELECT count(*) FROM transactions WHERE is_return").fetchall()[0][0]
    if report.rows_loaded == 0 and name != "customers":
        where = f" (see {report.rejected_file})" if report.rejected_file else ""
        raise no_usable_rows_error(label, name, report.rejected, where)
    return report


def _purchase_names(events: EventsInput) -> list[str]:
    mapping = event_type_map(events.vocabulary, events.event_types)
    return [src for src, dst in mapping.items() if dst == "purchase"]


def _keep_purchases(con: duckdb.DuckDBPyConnection, raw: str, label: str, events: EventsInput) -> None:
    """Reduce raw_transactions (read from the events source) to its purchase events."""
    types = column_types(con, raw)
    wanted = events.columns.get("event_type", "event_type")
    col = find_column(types, wanted)
    if col is None:
        present = [c for c in types if c != "_row"]
        raise missing_column(label, wanted, "event_type, to find the purchase events", present, "event_type")
    names = ", ".join(lit(src) for src in _purchase_names(events))
    kind = f"lower(trim(CAST({q(col)} AS VARCHAR)))"
    con.sql(f"CREATE OR REPLACE TEMP TABLE _purchases AS SELECT * FROM {raw} WHERE {kind} IN ({names})")
    con.sql(f"DROP {'VIEW' if is_view(con, raw) else 'TABLE'} {raw}")
    con.sql(f"ALTER TABLE _purchases RENAME TO {raw}")
    con.sql("DELETE FROM _malformed_transactions")  # the events table reports the file's malformed lines


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
    cols = ", ".join(f"r.{q(c)}" for c in columns)
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
            f"COPY (SELECT * FROM ({rows}) ORDER BY source_row) TO {lit(str(tmp))} (FORMAT csv, HEADER true)"
        )
    return target


def _write_malformed_only(con: duckdb.DuckDBPyConnection, name: str, rejected_dir: str | Path) -> Path:
    """The rejected-rows file of a table whose every line is malformed."""
    target = Path(rejected_dir) / f"{name}_rejected.csv"
    with atomic_path(target) as tmp:
        con.sql(
            f"COPY (SELECT * FROM _malformed_{name} ORDER BY source_row) TO {lit(str(tmp))} "
            "(FORMAT csv, HEADER true)"
        )
    return target
