"""The DuckDB backend of the loader: the rules of `churnkit.data.rules` as SQL, one table at a time.

`load_table` reads a source (`churnkit.engines.duckdb_read`), maps its columns, parses every canonical column
and gives each unusable row its reason in one scan (``CREATE TABLE <name> AS SELECT ...``), drops exact
duplicates, writes the rows set aside to ``<table>_rejected.csv`` and returns the table's `TableReport`.
The canonical table stays in the connection; `churnkit.data.load.load_shop` wraps the connection as a shop.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import duckdb

from churnkit.config import EventsInput, TableInput
from churnkit.data.io import atomic_path, file_format, is_frame, resolve_source
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
from churnkit.engines.duckdb_read import (
    CsvFile,
    Source,
    column_types,
    csv_source,
    drop_raw,
    is_view,
    lit,
    lost_in_quotes,
    new_malformed,
    numbered,
    q,
    read_csv_raw,
    read_lines,
    read_raw,
    reading,
    record_malformed,
)
from churnkit.errors import InputError

_TEXT_TYPES = ("VARCHAR",)
_NAIVE_TIME_TYPES = ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE")
_PLAIN_LAYOUTS = "['%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d']"
"""Timestamp texts without an offset that strptime reads exactly as the TIMESTAMPTZ cast does in UTC."""
_INNER = {"amount": "_amount", "unit_price": "_price", "event_type": "_event_type"}
"""Parsed columns that the outer query derives a canonical column from keep these inner names."""


# ---- parsers: one SQL expression per kind -----------------------------------------------------------
def timestamp_expr(col: str, typ: str, fmt: str | None, timezone: str = "UTC") -> str:
    c = q(col)
    if typ in _TEXT_TYPES:
        parsed = f"try_strptime(trim({c}), {lit(fmt)})" if fmt else f"TRY_CAST(trim({c}) AS TIMESTAMPTZ)"
        general = f"(TRY_CAST({parsed} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
        if fmt or timezone != "UTC":
            return general
        # UTC wall clock in the usual layouts needs no time-zone arithmetic (half the cost of the scan);
        # the formats match the whole text, so an offset or a zone name takes the general cast
        return f"coalesce(try_strptime(trim({c}), {_PLAIN_LAYOUTS}), {general})"
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
    """The value trimmed, blank as NULL; only the values `clean_expr` finds padded or blank are trimmed (on
    48M events, trimming every customer and session id cost a third of the loader's reason-counting scan)."""
    if typ not in _TEXT_TYPES:
        return f"NULLIF(trim(CAST({q(col)} AS VARCHAR)), '')"
    return f"(CASE WHEN {clean_expr(col)} THEN {q(col)} ELSE NULLIF(trim({q(col)}), '') END)"


def clean_expr(col: str) -> str:
    """Whether a text value reads the same through `text_expr`: NULL, or neither blank nor padded with spaces
    (what ``trim`` removes). Two LIKEs cost half a trim and a comparison."""
    c = q(col)
    return f"({c} IS NULL OR ({c} <> '' AND {c} NOT LIKE ' %' AND {c} NOT LIKE '% '))"


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


def needs_row(rules: TableRules, spec: TableInput, columns: list[str], label: str) -> bool:
    """Whether parsing needs each row's number: an order id made up from it where the source has none."""
    src = source_columns(rules, spec, columns, label)
    return any(rule.kind == "order_id" and src.get(rule.name) is None for rule in rules.columns)


def _select(
    rules: TableRules,
    spec: TableInput,
    types: dict[str, str],
    label: str,
    raw: str,
    *,
    row: bool = True,
    clean: Collection[str] = (),
    check_clean: bool = False,
) -> str:
    """The one query that parses a raw table: canonical columns, ``_reason``, the row hash and (with
    ``row``, read from the source) ``_row``.

    ``clean``: source text columns whose every value is already trimmed and not blank, read as they are
    (no trim on each read of a table left in its file). ``check_clean`` adds a column ``_clean_<column>``
    per source column of ``rules.read_untrimmed`` telling whether this row's value is (`clean_expr`)."""
    src = source_columns(rules, spec, list(types), label)

    def text(col: str) -> str:
        return q(col) if col in clean and types[col] in _TEXT_TYPES else text_expr(col, types[col])

    inner: dict[str, str] = {}  # parsed from the source, one scan
    derived: dict[str, str] = {}  # from the parsed columns (the outer query reads the inner one's results)
    if "quantity" in src:
        inner["quantity"] = number_expr(src["quantity"], types[src["quantity"]])
    for rule in rules.columns:
        s = src.get(rule.name)
        if check_clean and rule.name in rules.read_untrimmed and s is not None and types[s] in _TEXT_TYPES:
            inner[f"_clean_{s}"] = clean_expr(s)
        if rule.kind == "text":
            inner[rule.name] = text(s) if s is not None else "CAST(NULL AS VARCHAR)"
        elif rule.kind == "timestamp":
            inner[rule.name] = timestamp_expr(s, types[s], spec.timestamp_format, spec.timezone)
        elif rule.kind == "date" and s is not None:
            inner[rule.name] = f"CAST({timestamp_expr(s, types[s], None, spec.timezone)} AS DATE)"
        elif rule.kind == "order_id":
            order = text_expr(s, types[s]) if s is not None else "NULL"
            # a blank id is made from the row number (without ``row``: filled in later, `_made_up_ids`)
            inner[rule.name] = f"coalesce({order}, 'row-' || CAST(_row AS VARCHAR))" if row else order
        elif rule.kind == "amount" and "unit_price" in src:
            inner["_price"] = number_expr(src["unit_price"], types[src["unit_price"]])
            inner["_amount"] = f"({inner['quantity']} * {inner['_price']})"
        elif rule.kind == "amount":
            inner["_amount"] = number_expr(s, types[s])
        elif rule.kind == "event_type":
            inner["_event_type"] = f"lower({text(s)})"
    for check in rules.checks:
        if check.test == "blank":
            s = src[check.column]
            inner[f"_blank_{check.column}"] = blank_expr(s, types[s])
    if rules.name == "transactions":
        cancelled = (
            f'coalesce(starts_with("order_id", {lit(spec.cancel_prefix)}), false)'
            if spec.cancel_prefix
            else "false"
        )
        qty_negative = 'coalesce("quantity" < 0, false) OR ' if "quantity" in inner else ""
        is_return = f'("_amount" < 0 OR {qty_negative}{cancelled})'
        derived["amount"] = f'(CASE WHEN {is_return} THEN -abs("_amount") ELSE "_amount" END)'
        derived["is_return"] = is_return
    extra: dict[str, str] = {}
    if rules.name == "events":
        mapping = event_type_map(getattr(spec, "vocabulary", None), getattr(spec, "event_types", None))
        # one CASE maps the names and finds the unknown ones (NULL): an IN list would be a join per use
        cases = " ".join(f"WHEN {lit(s)} THEN {lit(d)}" for s, d in mapping.items())
        mapped = f'(CASE "_event_type" {cases} END)'
        derived["event_type"] = f"coalesce({mapped}, 'page_view')"
        extra["_unknown_type"] = f'({mapped} IS NULL AND "_event_type" IS NOT NULL)'
        extra["_unknown_name"] = f'(CASE WHEN {mapped} IS NULL THEN "_event_type" END)'
    for col in other_columns(rules, spec, list(types), src):
        inner[col] = q(col)
    keep = [c.name for c in rules.columns if c.name in inner or c.name in derived]
    keep += [c for c in inner if c not in keep and not c.startswith("_")]
    reason = "CASE " + " ".join(f"WHEN {_check_sql(c)} THEN {lit(c.reason)}" for c in rules.checks) + " END"
    row_hash = f"hash({', '.join(q(c) for c in types)})"  # duplicates are exact over the source columns
    rows = ["_row"] if row else []
    parsed = ", ".join([f"{e} AS {q(c)}" for c, e in inner.items()] + [f"{row_hash} AS _h", *rows])
    outer = ", ".join(
        [f"{derived.get(c, q(c))} AS {q(c)}" for c in keep]
        + [f"{e} AS {c}" for c, e in extra.items()]
        + [f"{reason} AS _reason", "_h", *rows]
        + [q(c) for c in inner if c.startswith("_clean_")]
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
    in_place: bool = False,
) -> TableReport:
    """Load one table into ``con`` as the canonical table ``name`` and report what happened to its rows.

    ``in_place``: a Parquet events file stays where it lies (`_finish_in_file`), for a job that reads the
    events once; a job that reads them at several dates is better served by the copy.

    A CSV file is parsed and checked as it is scanned (one pass, no copy of its text kept); its text is read
    again only for the rows set aside, when there are some. Other sources, and CSV files that need a second
    look (a quote left open, an order id made from the row number, purchases taken from events), are first
    read as they are into ``raw_<name>``.
    """
    rules = table_rules(name, spec)
    with contextlib.ExitStack() as stack:  # holds a transcoded copy of the file while it is read
        csv_file = None if purchases_of is not None else csv_source(source, spec, name, stack)
        parquet = (
            in_place
            and purchases_of is None
            and not is_frame(source)
            and file_format(resolve_source(source)) == "parquet"
        )
        if csv_file is None:
            label = read_raw(con, name, source, spec)
        elif needs_row(rules, spec, csv_file.header, csv_file.label):
            label = csv_file.label
            read_csv_raw(con, csv_file)
        elif _parse_csv(con, name, rules, spec, csv_file):
            return _finish(con, name, rules, csv_file.label, rejected_dir, direct=csv_file)
        else:  # a quote left open swallowed the lines after it: only a line-by-line read sets it aside
            label = csv_file.label
            with reading(label, name, spec):
                read_lines(con, csv_file, stack)
        return _load_raw(con, name, label, spec, rejected_dir, rules, purchases_of, parquet=parquet)


def _parse_csv(
    con: duckdb.DuckDBPyConnection, name: str, rules: TableRules, spec: TableInput, csv_file: CsvFile
) -> bool:
    """The canonical table straight from the CSV scan; False (nothing made) if a quote left open spans lines."""
    new_malformed(con, name)
    types = dict.fromkeys(csv_file.header, "VARCHAR")
    query = _select(rules, spec, types, csv_file.label, csv_file.scan(), row=False)
    csv_file.forget_rejects(con)
    with reading(csv_file.label, name, spec):
        try:
            _create(con, name, query, spec)
        except duckdb.InvalidInputException as e:
            if not lost_in_quotes(e):
                raise
            con.sql(f"DROP TABLE IF EXISTS {name}")
            csv_file.forget_rejects(con)
            return False
    malformed = csv_file.rejects(con)
    if malformed is None:
        con.sql(f"DROP TABLE {name}")
        return False
    record_malformed(con, name, malformed)
    for rule in rules.columns:
        if rule.kind == "order_id":
            _made_up_ids(con, name, rule.name)
    return True


def _made_up_ids(con: duckdb.DuckDBPyConnection, name: str, column: str) -> None:
    """Blank order ids as ``row-<data row>``, as the raw path makes them while parsing."""
    col = q(column)
    if not con.sql(f"SELECT count(*) FROM {name} WHERE {col} IS NULL").fetchall()[0][0]:
        return
    blank = f"SELECT rowid AS _rid, rowid + 1 AS _seq FROM {name} WHERE {col} IS NULL"
    con.sql(
        f"UPDATE {name} SET {col} = 'row-' || CAST(s._row AS VARCHAR) FROM ({numbered(name, blank)}) s "
        f"WHERE {name}.rowid = s._rid"
    )


def _create(con: duckdb.DuckDBPyConnection, name: str, query: str, spec: TableInput) -> None:
    """``CREATE TABLE name AS query`` with naive times read in the table's time zone."""
    if is_view(con, name):  # an events file an earlier load left in place (`_finish_in_file`)
        con.sql(f"DROP VIEW {name}")
    con.sql(f"SET TimeZone={lit(spec.timezone)}")
    try:
        con.sql(f"CREATE OR REPLACE TABLE {name} AS {query}")
    finally:
        con.sql("SET TimeZone='UTC'")


def _load_raw(
    con: duckdb.DuckDBPyConnection,
    name: str,
    label: str,
    spec: TableInput,
    rejected_dir: str | Path | None,
    rules: TableRules,
    purchases_of: EventsInput | None,
    *,
    parquet: bool = False,
) -> TableReport:
    """Parse ``raw_<name>`` (the source as it is, with its row numbers) into the canonical table; ``parquet``:
    ``raw_<name>`` is a view of a Parquet file (`read_raw`)."""
    raw = f"raw_{name}"
    if purchases_of is not None:
        _keep_purchases(con, raw, label, purchases_of)
    types = column_types(con, raw)
    types.pop("_row", None)
    rows_read = con.sql(f"SELECT count(*) FROM {raw}").fetchall()[0][0]
    if rows_read == 0 and purchases_of is not None:
        raise InputError(
            f"{label}: no purchase events to derive transactions from (event types mapped to purchase: "
            f"{', '.join(_purchase_names(purchases_of))})",
            path=label,
        )
    if rows_read and parquet and _stays_in_file(name, spec):
        return _finish_in_file(
            con, name, label, rejected_dir, functools.partial(_select, rules, spec, types, label, raw)
        )
    if rows_read:  # parse each canonical column once, in one scan, and give each unusable row a reason
        _create(con, name, _select(rules, spec, types, label, raw), spec)
    return _finish(con, name, rules, label, rejected_dir, rows_read=rows_read)


def _stays_in_file(name: str, spec: TableInput) -> bool:
    """Whether a table read from Parquet is a view that parses the file on each read instead of a copy: the events,
    the largest table by far (48M rows for 1M customers), whose copy cost most of the load's time and memory.

    Only where the parse does not depend on the session's time zone (UTC, the default), since a view is
    evaluated later, when the connection is back in UTC.
    """
    return name == "events" and spec.timezone == "UTC"


def _finish_in_file(
    con: duckdb.DuckDBPyConnection,
    name: str,
    label: str,
    rejected_dir: str | Path | None,
    parse: Callable[..., str],
) -> TableReport:
    """`_finish` for a table left in its Parquet file: ``name`` becomes a view of its usable rows.

    The same rules as a copied table, in two or three scans of the file and no copy: `_later_copies` finds
    the duplicates (``_drop_<name>``: the data rows of the later copies, then of the rows set aside), then one
    grouped scan counts the rows by reason and by unknown event name, and finds the text columns whose usable
    values need no trimming: the view reads those as they are (on 48M events, trimming three columns cost a
    fifth of each feature query). ``parse``: `_select` with the table's rules and source. ``_parsed_<name>``
    and ``raw_<name>`` stay in the connection: the view reads through them.
    """
    parsed, kept = f"_parsed_{name}", f"_kept_{name}"
    con.sql(f"DROP {'VIEW' if is_view(con, name) else 'TABLE'} IF EXISTS {name}")  # an earlier load's events
    con.sql(f"CREATE OR REPLACE TEMP VIEW {parsed} AS {parse(check_clean=True)}")
    checks = [c for c in column_types(con, parsed) if c.startswith("_clean_")]
    duplicates = _later_copies(con, name, parsed, "_row", f"_drop_{name}", ignore=checks)
    drop = f" WHERE _row NOT IN (SELECT _key FROM _drop_{name})" if duplicates else ""
    con.sql(f"CREATE OR REPLACE TEMP VIEW {kept} AS SELECT * FROM {parsed}{drop}")
    tests = "".join(f", bool_and({q(c)})" for c in checks)
    grouped = con.sql(f"SELECT _reason, _unknown_name, count(*){tests} FROM {kept} GROUP BY ALL").fetchall()
    facts = [row[:3] for row in grouped]
    usable = [row[3:] for row in grouped if row[0] is None]
    clean = [c.removeprefix("_clean_") for i, c in enumerate(checks) if all(u[i] for u in usable)]
    report = TableReport(
        table=name,
        source=label,
        rows_read=sum(n for *_, n in facts) + duplicates,
        duplicates_dropped=duplicates,
    )
    for reason, _, n in facts:
        if reason is not None:
            report.rejected[reason] = report.rejected.get(reason, 0) + int(n)
    unknown = sorted(
        ((u, int(n)) for r, u, n in facts if r is None and u is not None), key=lambda x: (-x[1], x[0])
    )
    report.unknown_event_types = sum(n for _, n in unknown)
    report.unknown_event_names = dict(unknown[:UNKNOWN_EVENTS_SHOWN])
    if report.rejected and rejected_dir is not None:
        report.rejected_file = str(_write_rejected(con, name, rejected_dir, None, parsed=kept))
    # the rows set aside join the copies: the view skips them by row, parsing nothing more
    if report.rejected:
        con.sql(f"INSERT INTO _drop_{name} SELECT _row FROM {kept} WHERE _reason IS NOT NULL")
    skip = f" WHERE _row NOT IN (SELECT _key FROM _drop_{name})" if duplicates or report.rejected else ""
    helpers = "_reason, _h, _row, _unknown_type, _unknown_name"
    con.sql(f"CREATE OR REPLACE TEMP VIEW {parsed} AS {parse(clean=clean)}")  # the same values, usable rows
    con.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * EXCLUDE ({helpers}) FROM {parsed}{skip}")
    con.sql(f"DROP TABLE IF EXISTS _malformed_{name}")
    report.rows_loaded = sum(int(n) for r, _, n in facts if r is None)
    if report.rows_loaded == 0:
        where = f" (see {report.rejected_file})" if report.rejected_file else ""
        raise no_usable_rows_error(label, name, report.rejected, where)
    return report


def _finish(
    con: duckdb.DuckDBPyConnection,
    name: str,
    rules: TableRules,
    label: str,
    rejected_dir: str | Path | None,
    *,
    direct: CsvFile | None = None,
    rows_read: int | None = None,
) -> TableReport:
    """Drop duplicates, set the unusable rows aside (written with their reasons), report, tidy up."""
    raw = f"raw_{name}"
    if rows_read is None:
        rows_read = con.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    malformed = dict(con.sql(f"SELECT reason, count(*) FROM _malformed_{name} GROUP BY 1").fetchall())
    if rows_read == 0:
        con.sql(f"DROP TABLE IF EXISTS {name}")
        drop_raw(con, raw)
        if not malformed:
            raise no_rows_error(label, name)
        where = ""
        if rejected_dir is not None:
            where = f" (see {_write_malformed_only(con, name, rejected_dir)})"
        raise all_malformed_error(label, name, malformed, where)

    # exact duplicates: rows sharing a hash of their source values are compared on what was parsed from
    # them; the first copy stays
    duplicates = _drop_duplicates(con, name, rules)
    if rules.unique is not None:  # keep the table keyed: a second row for the same key is set aside
        key = q(rules.unique.column)
        con.sql(
            f"UPDATE {name} SET _reason = {lit(rules.unique.reason)} WHERE _reason IS NULL AND rowid IN ("
            f"SELECT rowid FROM {name} WHERE _reason IS NULL "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY rowid) > 1)"
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
        report.rejected_file = str(_write_rejected(con, name, rejected_dir, direct))
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
    present = column_types(con, name)
    for helper in ("_reason", "_h", "_row", *extra):
        if helper in present:
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
    drop_raw(con, raw)
    con.sql(f"ALTER TABLE _purchases RENAME TO {raw}")
    con.sql("DELETE FROM _malformed_transactions")  # the events table reports the file's malformed lines


def _shared_hashes(table: str) -> str:
    """The row hashes (``_h``) more than one row of ``table`` has: one sort of a 64-bit column (on 15M rows
    a little faster than ``GROUP BY _h HAVING count(*) > 1``, and it does not need a hash table of every row)."""
    return f"SELECT DISTINCT _h FROM (SELECT _h, lag(_h) OVER (ORDER BY _h) AS _prev FROM {table}) WHERE _h = _prev"


_LISTED_HASHES = 10_000
"""Shared hashes up to this many are written into the query that compares their rows as a list of constants:
DuckDB then tests each row's hash before parsing it, where a subquery made it parse every row first (48M
events with 3 rows sharing a hash: 5.4 s as a subquery). More go through the subquery, a join."""


def _later_copies(
    con: duckdb.DuckDBPyConnection, name: str, table: str, key: str, target: str, ignore: Sequence[str] = ()
) -> int:
    """Make ``target`` (one column ``_key``: ``key`` of each row) the exact copies in ``table`` after the first
    (lowest ``key``); return how many. Rows are copies when their hash ``_h`` and every parsed column but
    ``ignore`` agree; only rows whose hash is shared are compared (`_shared_hashes`)."""
    con.sql(f"CREATE OR REPLACE TEMP TABLE _shared_{name} AS {_shared_hashes(table)}")
    con.sql(f"CREATE OR REPLACE TEMP TABLE {target} (_key BIGINT)")
    shared = con.sql(f"SELECT count(*) FROM _shared_{name}").fetchall()[0][0]
    if shared:
        columns = [c for c in column_types(con, table) if c not in ("_reason", "_row", *ignore)]
        among = f"SELECT _h FROM _shared_{name}"
        if shared <= _LISTED_HASHES:
            among = ", ".join(f"{h}::UBIGINT" for (h,) in con.sql(among).fetchall())
        con.sql(
            f"INSERT INTO {target} SELECT {key} FROM {table} WHERE _h IN ({among}) "
            f"QUALIFY row_number() OVER (PARTITION BY {', '.join(q(c) for c in columns)} ORDER BY {key}) > 1"
        )
    con.sql(f"DROP TABLE _shared_{name}")
    return int(con.sql(f"SELECT count(*) FROM {target}").fetchall()[0][0])


def _drop_duplicates(con: duckdb.DuckDBPyConnection, name: str, rules: TableRules) -> int:
    """Delete all but the first copy (lowest row) of exact duplicate rows; return how many went.

    Two rows are copies when the hash of their source values (``_h``) and every value parsed from them agree
    (order ids aside: a blank one is made from the row number, and the hash covers their text). Only rows whose hash is shared are compared, so the usual
    case (no duplicates) costs one sort of a 64-bit column.
    """
    order_ids = [c.name for c in rules.columns if c.kind == "order_id"]
    dropped = _later_copies(con, name, name, "rowid", f"_dups_{name}", ignore=order_ids)
    if dropped:
        con.sql(f"DELETE FROM {name} WHERE rowid IN (SELECT _key FROM _dups_{name})")
    con.sql(f"DROP TABLE _dups_{name}")
    return dropped


def _write_rejected(
    con: duckdb.DuckDBPyConnection,
    name: str,
    rejected_dir: str | Path,
    direct: CsvFile | None,
    *,
    parsed: str | None = None,
) -> Path:
    """Write the set-aside rows with their original values, source row number and reason.

    ``parsed``: the parsed rows (with ``_reason`` and ``_row``) if not the table ``name`` itself. Malformed
    lines (no values to split) come with their text in a last column ``raw_line``. A table parsed
    straight from its CSV reads the file's text again, once, for these rows (its rowid is the line's order).
    """
    target = Path(rejected_dir) / f"{name}_rejected.csv"
    if direct is None:
        rows = (
            f"SELECT r._row AS source_row, p._reason AS reason, r.* EXCLUDE (_row) "
            f"FROM {parsed or name} p JOIN raw_{name} r USING (_row) WHERE p._reason IS NOT NULL"
        )
    else:
        with reading(direct.label, name, direct.spec):
            con.sql(f"CREATE OR REPLACE TEMP TABLE _text_{name} AS SELECT * FROM {direct.scan()}")
        direct.forget_rejects(con)
        picked = (
            f"SELECT p._reason AS reason, r.*, r.rowid + 1 AS _seq FROM _text_{name} r JOIN "
            f"(SELECT rowid AS _rid, _reason FROM {name} WHERE _reason IS NOT NULL) p ON r.rowid = p._rid"
        )
        rows = f"SELECT _row AS source_row, * EXCLUDE (_row) FROM ({numbered(name, picked)})"
    if con.sql(f"SELECT count(*) FROM _malformed_{name}").fetchall()[0][0]:
        rows = f"{rows} UNION ALL BY NAME SELECT source_row, reason, raw_line FROM _malformed_{name}"
    with atomic_path(target) as tmp:
        con.sql(
            f"COPY (SELECT * FROM ({rows}) ORDER BY source_row) TO {lit(str(tmp))} (FORMAT csv, HEADER true)"
        )
    con.sql(f"DROP TABLE IF EXISTS _text_{name}")
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
