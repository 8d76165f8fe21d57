"""The load rules as Spark columns: one parser per column kind, and `rule_columns` for a whole table.

`rule_columns` turns `churnkit.data.rules` into Spark Column expressions, as `churnkit.engines.duckdb_sql` turns
them into SQL. Each parser accepts exactly what DuckDB's cast accepts (the regular expressions below), so both
engines load and set aside the same rows. PySpark is imported inside the functions.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from churnkit.config import TableInput
from churnkit.data.rules import Check, TableRules, other_columns
from churnkit.data.schema import TIMESTAMP_RANGE, event_type_map
from churnkit.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# Shapes DuckDB's TIMESTAMPTZ cast accepts (Spark alone would also take '2024', '2024-03', '2024-03-01T10'
# or an offset after a space, '10:00 +02:00').
_TS_SHAPE = r"^\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(?!.*\s[+-]\d).*)?$"
_TS_ZONE = r"\d:\d{2}(:\d{2}(\.\d*)?)?\s*([zZ]|[+-]\d{1,2}(:?\d{2})?|[A-Za-z][A-Za-z0-9_/+-]*)$"
_DIGITS = r"\d+(_\d+)*"
# Numbers as DuckDB's DOUBLE cast reads them (Spark alone would also take '1.5d' or reject '1_000').
_NUMBER = rf"^[+-]?({_DIGITS}(\.({_DIGITS})?)?|\.{_DIGITS})([eE][+-]?{_DIGITS})?$"
_STRPTIME = {
    "Y": "yyyy",
    "y": "yy",
    "m": "MM",
    "d": "dd",
    "H": "HH",
    "I": "hh",
    "M": "mm",
    "S": "ss",
    "f": "SSSSSS",
    "p": "a",
    "b": "MMM",
    "B": "MMMM",
    "j": "DDD",
    "z": "[XXX][XX][X]",
}


def q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def strip(c: Column) -> Column:
    from pyspark.sql import functions as F

    return F.regexp_replace(c, r"^\s+|\s+$", "")


def is_text(typ: Any) -> bool:
    from pyspark.sql.types import StringType

    return isinstance(typ, StringType)


def java_pattern(fmt: str) -> tuple[str, bool]:
    """A strptime format as a Spark datetime pattern, and whether it carries a UTC offset (%z)."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            text = "".join(literal).replace("'", "''")
            out.append(text if re.fullmatch(r"[\s\-/:.,]*", text) else f"'{text}'")
            literal.clear()

    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            if code == "%":
                literal.append("%")
            elif code in _STRPTIME:
                flush()
                out.append(_STRPTIME[code])
            else:
                raise ConfigError(
                    f"timestamp_format {fmt!r}: %{code} is not supported on the spark engine "
                    f"(supported: {', '.join('%' + k for k in _STRPTIME)})"
                )
            i += 2
            continue
        literal.append(ch)
        i += 1
    flush()
    return "".join(out), "%z" in fmt


def timestamp(c: Column, typ: Any, fmt: str | None, tz: str) -> Column:
    """Naive UTC ``timestamp_ntz`` (null when unusable), as `churnkit.engines.duckdb_sql.timestamp_expr`."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType, TimestampNTZType, TimestampType

    local = F.lit(True)  # whether the value is a wall-clock time in the table's zone
    if is_text(typ):
        s = strip(c)
        if fmt:
            pattern, zoned = java_pattern(fmt)
            parsed = F.try_to_timestamp(s, F.lit(pattern))
            local = F.lit(not zoned)
        else:
            parsed = F.when(s.rlike(_TS_SHAPE), s.try_cast("timestamp"))
            local = ~s.rlike(_TS_ZONE)
        ts = parsed.cast("timestamp_ntz")  # the session is UTC: an offset is applied, a wall clock kept
    elif isinstance(typ, TimestampType):
        ts, local = c.cast("timestamp_ntz"), F.lit(False)
    elif isinstance(typ, TimestampNTZType | DateType):
        ts = c.cast("timestamp_ntz")
    else:
        return F.lit(None).cast("timestamp_ntz")
    if tz.upper() in ("UTC", "Z", "ETC/UTC", "GMT"):
        return ts
    return F.when(local, F.to_utc_timestamp(ts, tz).cast("timestamp_ntz")).otherwise(ts)


def number(c: Column, typ: Any) -> Column:
    from pyspark.sql import functions as F

    if is_text(typ):
        s = strip(c)
        value = F.when(s.rlike(_NUMBER), F.regexp_replace(s, "_", "").try_cast("double"))
    else:
        value = c.try_cast("double")
    return F.when(~F.isnan(value) & (F.abs(value) != float("inf")), value)


def text(c: Column) -> Column:
    from pyspark.sql import functions as F

    return F.nullif(F.trim(c.cast("string")), F.lit(""))


def blank(c: Column) -> Column:
    from pyspark.sql import functions as F

    return c.isNull() | (F.trim(c.cast("string")) == F.lit(""))


def rule_columns(
    rules: TableRules, spec: TableInput, frame: DataFrame, types: dict[str, Any], src: dict[str, str]
) -> tuple[dict[str, Column], dict[str, Column], list[tuple[Column, str]]]:
    """The rules of one table as Spark columns over ``frame`` (the source columns, ``_row``).

    Returns the canonical columns (in the rules' order), helper columns (``event_type_raw``/``_known``, for the
    report) and each check as (condition, reason), in the order the checks run. ``src`` maps canonical to source
    columns (`churnkit.data.rules.source_columns`).
    """
    from pyspark.sql import functions as F

    sources = {c: frame[q(s)] for c, s in src.items()}
    values: dict[str, Column] = {}  # parsed, before any derivation (what the checks test)
    exprs: dict[str, Column] = {}  # the canonical columns, in the rules' order
    if "quantity" in sources:
        values["quantity"] = number(sources["quantity"], types[src["quantity"]])
    for rule in rules.columns:
        s = sources.get(rule.name)
        if rule.kind == "text":
            exprs[rule.name] = values[rule.name] = text(s) if s is not None else F.lit(None).cast("string")
        elif rule.kind == "timestamp":
            ts = timestamp(s, types[src[rule.name]], spec.timestamp_format, spec.timezone)
            exprs[rule.name] = values[rule.name] = ts
        elif rule.kind == "date" and s is not None:
            exprs[rule.name] = timestamp(s, types[src[rule.name]], None, spec.timezone).cast("date")
        elif rule.kind == "order_id":
            order = text(s) if s is not None else F.lit(None).cast("string")
            exprs[rule.name] = F.coalesce(order, F.concat(F.lit("row-"), frame["_row"].cast("string")))
        elif rule.kind == "amount" and "unit_price" in sources:
            values["unit_price"] = number(sources["unit_price"], types[src["unit_price"]])
            values["amount"] = values["quantity"] * values["unit_price"]
        elif rule.kind == "amount":
            values["amount"] = number(s, types[src[rule.name]])
        elif rule.kind == "return_flag":
            cancelled = (
                exprs["order_id"].startswith(spec.cancel_prefix) if spec.cancel_prefix else F.lit(False)
            )
            is_return = values["amount"] < 0
            if "quantity" in values:
                is_return = is_return | F.coalesce(values["quantity"] < 0, F.lit(False))
            exprs["amount"] = F.when(is_return | cancelled, -F.abs(values["amount"])).otherwise(
                values["amount"]
            )
            exprs[rule.name] = is_return | cancelled
        elif rule.kind == "number" and rule.name in values:
            exprs[rule.name] = values[rule.name]
        elif rule.kind == "event_type":
            kind = values[rule.name] = F.lower(text(s))
            mapping = event_type_map(getattr(spec, "vocabulary", None), getattr(spec, "event_types", None))
            mapped = F.lit("page_view")
            for raw_name, canonical in reversed(list(mapping.items())):
                mapped = F.when(kind == F.lit(raw_name), F.lit(canonical)).otherwise(mapped)
            exprs[rule.name] = mapped
    for c in other_columns(rules, spec, list(types), src):
        exprs[c] = frame[q(c)]
    helpers: dict[str, Column] = {}
    if "event_type" in values:
        helpers["event_type_raw"] = values["event_type"]
        helpers["event_type_known"] = values["event_type"].isin(*mapping)
    checks = [(_check_column(c, values, sources), c.reason) for c in rules.checks]
    return exprs, helpers, checks


def _check_column(check: Check, values: dict[str, Column], sources: dict[str, Column]) -> Column:
    """A check of `churnkit.data.rules` as a Spark condition (true: the row gets the check's reason)."""
    from pyspark.sql import functions as F

    if check.test == "blank":
        return blank(sources[check.column])
    value = values[check.column]
    if check.test == "range":
        lo, hi = (F.lit(d).cast("timestamp_ntz") for d in TIMESTAMP_RANGE)
        return ~((value >= lo) & (value < hi))
    return value.isNull()
