"""The load rules as Spark columns: one parser per column kind, as the DuckDB backend's SQL reads values.

Each parser accepts exactly what DuckDB's cast accepts (the regular expressions below), so both engines load
and set aside the same rows. Used by `churnkit.engines.spark` (PySpark is imported inside the functions).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from churnkit.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column

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
    """Naive UTC ``timestamp_ntz`` (null when unusable), as `churnkit.engines.duckdb.timestamp_expr`."""
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
