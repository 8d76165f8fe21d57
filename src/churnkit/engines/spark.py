"""churnkit on Spark: the same canonical tables, the same Ibis features, batch scoring with ``spark_udf``.

Three pieces, all lazy about PySpark (``pip install churnkit[spark]``; importing this module needs neither
PySpark nor Java):

* `load_shop_spark` reads CSV/Parquet (or Spark/pandas DataFrames) with Spark and applies the rules of
  `churnkit.data.load` (column mapping, ids as text, timestamps with offsets → naive UTC, dates as midnight,
  non-numeric amounts / missing ids / bad timestamps set aside with a reason, exact duplicates dropped,
  returns flagged, order_id filled with ``row-<n>``). It returns a `SparkShopData`, which has the interface
  the pipeline uses (``names``, ``has``, ``ibis``, ``date_range``, ``report``, ``frame``), so
  `churnkit.pipeline.train` and `ChurnkitModel.score` run on it unchanged, with every feature computed by the
  definitions of `churnkit.features` through Ibis's PySpark backend.
* `spark_features` returns the feature table at an as-of date as a Spark DataFrame (it stays on the cluster).
* `score_on_spark` scores that table with the logged pyfunc model through ``mlflow.pyfunc.spark_udf``.

Spark runs with ``spark.sql.session.timeZone=UTC`` (set on the session; Ibis sets it too): canonical
timestamps are ``timestamp_ntz`` holding UTC wall-clock time, exactly as DuckDB's naive ``TIMESTAMP``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnkit.config import InputsConfig, TableInput
from churnkit.data.io import (
    CSV_SUFFIXES,
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
)
from churnkit.data.load import OUT_OF_RANGE, LoadReport, TableReport, _find, not_text_error
from churnkit.data.schema import SCHEMAS, TIMESTAMP_RANGE, UNKNOWN_EVENTS_SHOWN, event_type_map
from churnkit.errors import ChurnkitError, ConfigError, DataTooShortError, InputError, ModelError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from pyspark.sql import Column, DataFrame, SparkSession

INSTALL_HINT = (
    "the spark engine needs PySpark and Java 17: install churnkit[spark] (pip install 'churnkit[spark]')"
)

SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
"""Set on every session churnkit uses (whether it created it or found it)."""

SCORE_SCHEMA = (
    "customer_id string, as_of string, churn_probability double, p_alive double, "
    "expected_purchases double, p_purchase_30d double, expected_next_purchase string, predicted_clv double, "
    "discounted_clv double, segment string, cluster long, rfm_segment string, rfm_score long, "
    "value_tier string, risk_tier string, top_reasons string, recommended_action string, "
    "expected_saved_value double"
)
"""The score table (`churnkit.schema.SCORE_COLUMNS`) as the ``result_type`` of the Spark UDF."""

_ROW_BITS = 33  # monotonically_increasing_id(): partition id in the upper 31 bits, row in partition below
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")  # s3://, s3a://, hdfs://, abfss://, dbfs:/, file:/ ...
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


# ---- session ---------------------------------------------------------------------------------------
def _require_pyspark() -> None:
    try:
        import pyspark
        import pyspark.sql  # noqa: F401
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None


def spark_session(master: str | None = None, conf: dict[str, str] | None = None) -> SparkSession:
    """The active SparkSession (spark-submit, Databricks, a notebook) or a new one, set up for churnkit.

    A new session uses ``master`` (default: Spark's own, ``local[*]`` outside spark-submit) and ``conf``, and
    logs errors only. Every session gets `SESSION_CONF` (UTC session time zone, Arrow transfers).
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:
        builder = SparkSession.builder.appName("churnkit")
        if master:
            builder = builder.master(master)
        for key, value in {"spark.ui.showConsoleProgress": "false", **SESSION_CONF, **(conf or {})}.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as e:  # Java missing or broken: PySparkRuntimeError [JAVA_GATEWAY_EXITED]
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(f"cannot start Spark ({first}); {INSTALL_HINT}") from None
        session.sparkContext.setLogLevel("ERROR")  # our own session: no WARN chatter on the console
    for key, value in SESSION_CONF.items():
        session.conf.set(key, value)
    return session


# ---- the loaded shop -------------------------------------------------------------------------------
@dataclass
class SparkShopData:
    """The canonical tables of one shop as Spark DataFrames, with the interface of `ShopData`.

    Tables: ``transactions`` always; ``events`` and ``customers`` when given (see `has`). Each is persisted
    (memory and disk) once validated; `unpersist` releases them.
    """

    spark: SparkSession
    report: LoadReport
    names: tuple[str, ...]
    _parsed: dict[str, DataFrame] = field(default_factory=dict, repr=False)
    _columns: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _views: dict[str, str] = field(default_factory=dict, repr=False)
    _backend: Any = field(default=None, repr=False)

    def has(self, name: str) -> bool:
        return name in self.names

    def spark_frame(self, name: str) -> DataFrame:
        """A canonical table as a Spark DataFrame."""
        self._check(name)
        return self.spark.table(self._views[name])

    def frame(self, name: str) -> pd.DataFrame:
        """A table as a pandas DataFrame (collected to the driver; in source row order)."""
        self._check(name)
        parsed = self._parsed[name]
        rows = parsed.filter(parsed["_reason"].isNull()).orderBy("_row").select(*self._columns[name])
        return _pandas_types(rows.toPandas(), rows)

    def ibis(self, name: str) -> ir.Table | None:
        """A table as an Ibis expression on the PySpark backend (None if the table was not given)."""
        if name not in self.names:
            return None
        if self._backend is None:
            import ibis

            self._backend = ibis.pyspark.connect(self.spark)
        return self._backend.table(self._views[name])

    def date_range(self) -> tuple[dt.date, dt.date]:
        """First and last transaction dates."""
        from pyspark.sql import functions as F

        day = F.col("timestamp").cast("date")
        lo, hi = self.spark_frame("transactions").agg(F.min(day), F.max(day)).first()
        return lo, hi

    def unpersist(self) -> None:
        """Release the cached tables and drop their views."""
        for name, df in self._parsed.items():
            df.unpersist()
            self.spark.catalog.dropTempView(self._views[name])

    def _check(self, name: str) -> None:
        if name not in self.names:
            raise InputError(f"no {name} table was given")


Source = Any  # str | Path | pandas.DataFrame | pyspark.sql.DataFrame


def load_shop_spark(
    transactions: Source,
    events: Source | None = None,
    customers: Source | None = None,
    *,
    inputs: InputsConfig | None = None,
    rejected_dir: str | Path | None = None,
    spark: SparkSession | None = None,
) -> SparkShopData:
    """Load and validate a shop's tables with Spark, exactly as `churnkit.data.load.load_shop` does in DuckDB.

    Sources are file paths or URIs (CSV or Parquet by extension; ``s3://``, ``dbfs:/`` ... are passed to
    Spark as they are), Spark DataFrames or pandas DataFrames. Rejected rows are collected to the driver and
    written to ``<rejected_dir>/<table>_rejected.csv`` (only when there are some and a folder is given).
    """
    inputs = inputs or InputsConfig()
    if transactions is None:
        raise ConfigError(
            "the spark engine needs a transactions file (inputs.transactions.from_events is DuckDB-only for now)"
            if inputs.transactions.from_events is not None
            else "no transactions given: pass a transactions file"
        )
    _require_pyspark()
    spark = spark or spark_session()
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    tag = uuid.uuid4().hex[:12]
    data = SparkShopData(spark=spark, report=LoadReport(), names=())
    names: list[str] = []
    try:
        for name, source in (("transactions", transactions), ("events", events), ("customers", customers)):
            if source is None:
                continue
            spec: TableInput = getattr(inputs, name)
            parsed, columns, report = _load_table(spark, name, source, spec, rejected_dir)
            view = f"churnkit_{tag}_{name}"
            parsed.filter(parsed["_reason"].isNull()).select(*columns).createOrReplaceTempView(view)
            data._parsed[name], data._columns[name], data._views[name] = parsed, columns, view
            data.report.tables[name] = report
            names.append(name)
    except BaseException:
        data.names = tuple(names)
        data.unpersist()
        raise
    data.names = tuple(names)
    return data


# ---- reading -----------------------------------------------------------------------------------------
def _is_spark_frame(source: Any) -> bool:
    return type(source).__module__.startswith("pyspark.") and hasattr(source, "schema")


MALFORMED = "_churnkit_malformed"
"""The column Spark's PERMISSIVE CSV reader puts a line in when it is not a record of the table."""


def _read_raw(
    spark: SparkSession, name: str, source: Source, spec: TableInput
) -> tuple[DataFrame, str, str | None, str]:
    """The source as it is (CSV as text), a label for messages, its file format (None for a DataFrame) and
    its delimiter. A CSV frame has the column `MALFORMED` last: the text of each line that is not a record
    (too many or too few fields, an unbalanced quote), null for the others."""
    if isinstance(source, pd.DataFrame):
        check_header([str(c) for c in source.columns], f"the {name} table", name)
        return spark.createDataFrame(source), f"the {name} table", None, ","
    if _is_spark_frame(source):
        check_header(list(source.columns), f"the {name} table", name)
        return source, f"the {name} table", None, ","
    text = str(source)
    label = text
    if _URI.match(text) and not text.startswith("cdnow:"):
        path = text
        fmt = _format(text, folder=text.endswith("/"), has_csv=False)
    else:
        local = resolve_source(source)
        if not local.exists():
            file_format(local)  # an unknown extension is named first, as by the DuckDB loader
            raise InputError(f"{label}: file not found", path=label)
        has_csv = local.is_dir() and any(p.name.lower().endswith(CSV_SUFFIXES) for p in local.iterdir())
        fmt = _format(str(local), folder=local.is_dir(), has_csv=has_csv)
        if local.is_file() and not local.stat().st_size:
            raise InputError(f"{label}: the file is empty", path=label)
        if local.is_dir() and not any(p.is_file() and p.stat().st_size for p in local.rglob("*")):
            raise InputError(f"{label}: the folder has no data files", path=label)
        path = str(local.resolve())
    delimiter = ","
    try:
        if fmt == "csv":
            from pyspark.sql.types import StringType, StructField, StructType

            reader = spark.read.option("header", True).option("inferSchema", False).option("escape", '"')
            delimiter = spec.delimiter or ("\t" if text.lower().endswith(".tsv") else _sniff(path))
            reader = reader.option("sep", delimiter)
            if spec.encoding:
                reader = reader.option("encoding", spec.encoding)
            header = _header(spark, path, delimiter, spec, label, name)
            schema = StructType([StructField(c, StringType()) for c in [*header, MALFORMED]])
            reader = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", MALFORMED)
            frame = reader.schema(schema).csv(path)
        else:
            frame = spark.read.parquet(path)
            check_header(list(frame.columns), label, name)
        frame.schema  # noqa: B018 - reads the header / footer now, so a broken file fails here
    except ChurnkitError:
        raise
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{label}: cannot read the file as {fmt.upper()}: {first}", path=label) from None
    return frame, label, fmt, delimiter


def _header(
    spark: SparkSession, path: str, delimiter: str, spec: TableInput, label: str, name: str
) -> list[str]:
    """A CSV's column names, read from the file itself (a local file or the first part of a folder) and
    checked for blank and duplicate names; Spark's own header reading (for remote URIs) renames duplicates."""
    local = None if _URI.match(path) else Path(path)
    if local is not None and local.is_dir():
        parts = sorted(p for p in local.iterdir() if p.name.lower().endswith(CSV_SUFFIXES))
        local = parts[0] if parts else None
    if local is None:
        reader = spark.read.option("header", True).option("sep", delimiter).option("escape", '"')
        if spec.encoding:
            reader = reader.option("encoding", spec.encoding)
        header = list(reader.csv(path).columns)
    else:
        try:
            found = read_header(local, delimiter, spec.encoding)
        except UnicodeError:
            raise not_text_error(label, name, spec.encoding) from None
        if not found:
            raise InputError(f"{label}: the file is empty", path=label)
        header = found
    check_header(header, label, name)
    return header


def _format(path: str, *, folder: bool, has_csv: bool) -> str:
    """'csv' or 'parquet' by extension; a folder without one (Spark's part files) is Parquet unless it holds CSV."""
    try:
        return file_format(path.rstrip("/"))
    except InputError:
        if folder:
            return "csv" if has_csv else "parquet"
        raise


def _sniff(path: str) -> str:
    """The delimiter of a local CSV's header line (`churnkit.data.io.sniff_delimiter`; a folder: its first part)."""
    if _URI.match(path):
        return ","
    if Path(path).is_dir():
        parts = sorted(p for p in Path(path).iterdir() if p.name.lower().endswith(CSV_SUFFIXES))
        if not parts:
            return ","
        path = str(parts[0])
    return sniff_delimiter(path)


# ---- parsing rules (as in churnkit.data.load, with Spark columns) ------------------------------------
def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _strip(c: Column) -> Column:
    from pyspark.sql import functions as F

    return F.regexp_replace(c, r"^\s+|\s+$", "")


def _is_text(typ: Any) -> bool:
    from pyspark.sql.types import StringType

    return isinstance(typ, StringType)


def _java_pattern(fmt: str) -> tuple[str, bool]:
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


def _timestamp(c: Column, typ: Any, fmt: str | None, tz: str) -> Column:
    """Naive UTC ``timestamp_ntz`` (null when unusable), as `churnkit.data.load._timestamp_expr`."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType, TimestampNTZType, TimestampType

    local = F.lit(True)  # whether the value is a wall-clock time in the table's zone
    if _is_text(typ):
        s = _strip(c)
        if fmt:
            pattern, zoned = _java_pattern(fmt)
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


def _number(c: Column, typ: Any) -> Column:
    from pyspark.sql import functions as F

    if _is_text(typ):
        s = _strip(c)
        value = F.when(s.rlike(_NUMBER), F.regexp_replace(s, "_", "").try_cast("double"))
    else:
        value = c.try_cast("double")
    return F.when(~F.isnan(value) & (F.abs(value) != float("inf")), value)


def _text(c: Column) -> Column:
    from pyspark.sql import functions as F

    return F.nullif(F.trim(c.cast("string")), F.lit(""))


def _blank(c: Column) -> Column:
    from pyspark.sql import functions as F

    return c.isNull() | (F.trim(c.cast("string")) == F.lit(""))


def _row_numbers(raw: DataFrame, *, check_text: bool) -> tuple[DataFrame, int, bool]:
    """raw with ``_mid`` and ``_row`` (1-based, in source order), its row count, and (``check_text``) whether
    any text holds U+FFFD, Spark's stand-in for bytes that are not UTF-8. One pass over the source."""
    from pyspark.sql import functions as F

    frame = raw.withColumn("_mid", F.monotonically_increasing_id())
    texts = [F.coalesce(frame[_q(c)], F.lit("")) for c, t in raw.dtypes if t == "string" and check_text]
    bad = F.max(F.concat_ws("", *texts).contains("\ufffd").cast("int")) if texts else F.lit(0)
    stats = frame.groupBy(F.shiftright("_mid", _ROW_BITS).alias("p")).agg(F.count(F.lit(1)).alias("n"), bad)
    rows = stats.collect()
    counts = {int(r[0]): int(r[1]) for r in rows}
    offsets, total = [], 0
    for p in range(max(counts, default=-1) + 1):
        offsets.append(total)
        total += counts.get(p, 0)
    offset = F.element_at(
        F.array(*[F.lit(o).cast("long") for o in offsets or [0]]),
        (F.shiftright("_mid", _ROW_BITS) + 1).cast("int"),
    )
    row = offset + F.col("_mid").bitwiseAND((1 << _ROW_BITS) - 1) + 1
    frame = frame.withColumn("_row", row.cast("long"))
    return frame, total, any(r[2] for r in rows)


def _malformed_labels(spec: TableInput, fmt: str | None) -> list[str]:
    return (
        [TOO_MANY_FIELDS, TOO_FEW_FIELDS, UNBALANCED_QUOTE, not_text_reason(spec.encoding)]
        if fmt == "csv"
        else []
    )


def _malformed_reason(
    numbered: DataFrame,
    source_cols: list[str],
    types: dict[str, Any],
    delimiter: str,
    spec: TableInput,
    fmt: str | None,
) -> Column:
    """Why a CSV line is not a record, as the DuckDB loader says it (null for a good line).

    Spark's PERMISSIVE reader keeps such a line in `MALFORMED`; its reason comes from its text: an odd
    number of quotes is an unbalanced quote, else the fields outside quotes are counted. Bytes that are not
    UTF-8 reach Spark as U+FFFD (checked only for UTF-8 files).
    """
    from pyspark.sql import functions as F

    if fmt != "csv":
        return F.lit(None).cast("string")
    line = numbered[MALFORMED]
    quotes = F.length(line) - F.length(F.regexp_replace(line, '"', ""))
    unquoted = F.regexp_replace(line, '"([^"]|"")*"', "")
    fields = F.size(F.split(unquoted, re.escape(delimiter), -1))
    n = len(source_cols)
    reason = (
        F.when(line.isNull(), F.lit(None).cast("string"))
        .when(quotes % 2 == 1, F.lit(UNBALANCED_QUOTE))
        .when(fields > n, F.lit(TOO_MANY_FIELDS))
        .otherwise(F.lit(TOO_FEW_FIELDS))
    )
    if not spec.encoding:
        texts = [F.coalesce(numbered[_q(c)], F.lit("")) for c in source_cols if _is_text(types[c])]
        if texts:
            bad = F.concat_ws("", *texts).contains("\ufffd")
            reason = F.when(reason.isNull() & bad, F.lit(not_text_reason(None))).otherwise(reason)
    return reason


def _load_table(
    spark: SparkSession,
    name: str,
    source: Source,
    spec: TableInput,
    rejected_dir: str | Path | None,
) -> tuple[DataFrame, list[str], TableReport]:
    """Read, map, dedup, parse and count one table; returns the persisted parsed rows (with ``_reason``)."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    schema = SCHEMAS[name]
    raw, label, fmt, delimiter = _read_raw(spark, name, source, spec)
    types = {f.name: f.dataType for f in raw.schema.fields if f.name != MALFORMED}
    numbered, rows_read, _ = _row_numbers(raw, check_text=False)
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

    # 1. exact duplicates over all source columns: keep the first row of each group
    source_cols = list(types)
    # a malformed line is set aside as it is read (as by the DuckDB loader), so never a duplicate
    malformed_reason = _malformed_reason(numbered, source_cols, types, delimiter, spec, fmt)
    keyed = numbered.withColumn("_malformed", malformed_reason)
    keyed = keyed.withColumn("_key", F.when(F.col("_malformed").isNotNull(), F.col("_row")))
    group = [F.col(_q(c)) for c in source_cols] + [F.col("_malformed"), F.col("_key")]
    if MALFORMED in raw.columns:
        group.append(F.col(MALFORMED))
    dedup = keyed.groupBy(*group).agg(F.min("_row").alias("_row"), F.count(F.lit(1)).alias("_n"))

    # 2. parse canonical columns and give each unusable row a reason
    def col(c: str) -> Column:
        return dedup[_q(c)]

    exprs: dict[str, Column] = {}
    reasons: list[tuple[Column, str]] = [
        (dedup["_malformed"] == F.lit(text), text) for text in _malformed_labels(spec, fmt)
    ]
    cid = source_of("customer_id")
    exprs["customer_id"] = _text(col(cid))
    reasons.append((_blank(col(cid)), "missing customer_id"))
    if name in ("transactions", "events"):
        ts = source_of("timestamp")
        exprs["timestamp"] = _timestamp(col(ts), types[ts], spec.timestamp_format, spec.timezone)
        reasons.append((_blank(col(ts)), "missing timestamp"))
        reasons.append((exprs["timestamp"].isNull(), "unparseable timestamp"))
        lo, hi = (F.lit(d).cast("timestamp_ntz") for d in TIMESTAMP_RANGE)
        reasons.append((~((exprs["timestamp"] >= lo) & (exprs["timestamp"] < hi)), OUT_OF_RANGE))
    if name == "transactions":
        qty_col = _find(types, spec.amount_from.quantity) if spec.amount_from else source_of("quantity")
        qty = _number(col(qty_col), types[qty_col]) if qty_col else None
        if spec.amount_from is not None:
            price_col = _find(types, spec.amount_from.unit_price)
            price = _number(col(price_col), types[price_col])
            amount = qty * price
            reasons.append((qty.isNull(), "non-numeric quantity"))
            reasons.append((price.isNull(), "non-numeric unit price"))
        else:
            amt = source_of("amount")
            amount = _number(col(amt), types[amt])
            reasons.append((_blank(col(amt)), "missing amount"))
            reasons.append((amount.isNull(), "non-numeric amount"))
        order = source_of("order_id")
        order_text = _text(col(order)) if order else F.lit(None).cast("string")
        exprs["order_id"] = F.coalesce(order_text, F.concat(F.lit("row-"), dedup["_row"].cast("string")))
        cancelled = exprs["order_id"].startswith(spec.cancel_prefix) if spec.cancel_prefix else F.lit(False)
        is_return = amount < 0
        if qty is not None:
            is_return = is_return | F.coalesce(qty < 0, F.lit(False))
        is_return = is_return | cancelled
        exprs["amount"] = F.when(is_return, -F.abs(amount)).otherwise(amount)
        exprs["is_return"] = is_return
        if qty is not None:
            exprs["quantity"] = qty
    if name == "events":
        et = source_of("event_type")
        kind = F.lower(_text(col(et)))
        exprs["event_type_raw"] = kind
        reasons.append((_blank(col(et)), "missing event_type"))
        mapping = event_type_map(getattr(spec, "vocabulary", None), getattr(spec, "event_types", None))
        mapped = F.lit("page_view")
        for src, dst in reversed(list(mapping.items())):
            mapped = F.when(kind == F.lit(src), F.lit(dst)).otherwise(mapped)
        exprs["event_type"] = mapped
        exprs["event_type_known"] = kind.isin(*mapping)
    for optional, typ in schema.optional.items():
        if typ == "VARCHAR" and optional != "order_id":
            src = source_of(optional)
            exprs[optional] = _text(col(src)) if src is not None else F.lit(None).cast("string")
    if name == "customers":
        sd = source_of("signup_date")
        if sd is not None:
            exprs["signup_date"] = _timestamp(col(sd), types[sd], None, spec.timezone).cast("date")
        used = {cid, sd}
        for c in source_cols:
            if c not in used and c not in spec.columns.values():
                exprs[c] = col(c)

    reason = F.lit(None).cast("string")
    for cond, text in reversed(reasons):
        reason = F.when(cond, F.lit(text)).otherwise(reason)
    parsed = dedup.select(
        *[e.alias(c) for c, e in exprs.items()], reason.alias("_reason"), dedup["_row"], dedup["_n"]
    )
    if name == "customers":  # keep the table keyed: a second row for the same customer is set aside
        first = Window.partitionBy("customer_id", F.col("_reason").isNull()).orderBy("_row")
        parsed = parsed.withColumn(
            "_reason",
            F.when(
                F.col("_reason").isNull() & (F.row_number().over(first) > 1), F.lit("duplicate customer_id")
            ).otherwise(F.col("_reason")),
        )
    parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)

    # 3. every count in one pass over the cached table
    ok = F.col("_reason").isNull()
    aggs = [
        F.sum("_n").alias("rows_read"),
        F.count(F.lit(1)).alias("rows_unique"),
        F.sum(ok.cast("long")).alias("rows_loaded"),
    ]
    if name == "transactions":
        aggs.append(F.sum((ok & F.col("is_return")).cast("long")).alias("returns"))
    if name == "events":
        aggs.append(F.sum((ok & ~F.col("event_type_known")).cast("long")).alias("unknown"))
    labels = list(
        dict.fromkeys(
            [text for _, text in reasons] + (["duplicate customer_id"] if name == "customers" else [])
        )
    )
    aggs += [F.sum((F.col("_reason") == text).cast("long")).alias(f"_r{i}") for i, text in enumerate(labels)]
    try:
        stats = parsed.agg(*aggs).first().asDict()
    except BaseException:
        parsed.unpersist()
        raise
    rejected = {text: int(stats[f"_r{i}"]) for i, text in enumerate(labels) if stats[f"_r{i}"]}
    report = TableReport(
        table=name,
        source=label,
        rows_read=int(stats["rows_read"] or 0),
        duplicates_dropped=int(stats["rows_read"] or 0) - int(stats["rows_unique"]),
        rejected=rejected,
        rows_loaded=int(stats["rows_loaded"] or 0),
        returns=int(stats.get("returns") or 0),
        unknown_event_types=int(stats.get("unknown") or 0),
    )
    if report.unknown_event_types:
        top = (
            parsed.filter(ok & ~F.col("event_type_known"))
            .groupBy("event_type_raw")
            .agg(F.count(F.lit(1)).alias("n"))
            .orderBy(F.col("n").desc(), F.col("event_type_raw"))
            .limit(UNKNOWN_EVENTS_SHOWN)
            .collect()
        )
        report.unknown_event_names = {r[0]: int(r[1]) for r in top}
    if rejected and rejected_dir is not None:
        report.rejected_file = str(
            _write_rejected(
                name,
                parsed,
                numbered,
                source_cols,
                rejected_dir,
                malformed=_malformed_labels(spec, fmt),
                delimiter=delimiter,
            )
        )
    columns = [c for c in exprs if c not in ("event_type_raw", "event_type_known")]
    return parsed, columns, report


def _write_rejected(
    name: str,
    parsed: DataFrame,
    numbered: DataFrame,
    source_cols: list[str],
    rejected_dir: str | Path,
    *,
    malformed: list[str] | None = None,
    delimiter: str = ",",
) -> Path:
    """The set-aside rows with their original values, source row number and reason (collected to the driver).

    A malformed line (reason in ``malformed``) has no values, and its text in a last column ``raw_line``.
    """
    from pyspark.sql import functions as F

    types = [numbered.schema[c].dataType.typeName() for c in source_cols]
    bad = parsed.filter(F.col("_reason").isNotNull()).select("_row", "_reason").alias("b")
    is_malformed = F.col("b._reason").isin(*malformed) if malformed else F.lit(False)
    values = [
        F.when(~is_malformed, _as_written(F.col(f"r.{_q(c)}"), t)).alias(c)
        for c, t in zip(source_cols, types, strict=True)
    ]
    if malformed:
        line = F.col(f"r.{MALFORMED}") if MALFORMED in numbered.columns else F.lit(None).cast("string")
        joined = F.concat_ws(delimiter, *[F.coalesce(F.col(f"r.{_q(c)}"), F.lit("")) for c in source_cols])
        values.append(F.when(is_malformed, F.coalesce(line, joined)).alias("raw_line"))
    selected = (
        bad.join(numbered.alias("r"), F.col("b._row") == F.col("r._row"))
        .orderBy(F.col("b._row"))
        .select(F.col("b._row").alias("source_row"), F.col("b._reason").alias("reason"), *values)
    )
    if malformed and not selected.filter(F.col("raw_line").isNotNull()).limit(1).count():
        selected = selected.drop("raw_line")  # as DuckDB: the column only when some line was malformed
    rows = selected.toPandas()
    target = Path(rejected_dir) / f"{name}_rejected.csv"
    with atomic_path(target) as tmp:
        rows.to_csv(tmp, index=False)
    return target


def _as_written(c: Column, type_name: str) -> Column:
    """Dates and times as ISO text (pandas would drop a midnight time), other values as they are."""
    return c.cast("string") if type_name in ("timestamp", "timestamp_ntz", "date") else c


def _pandas_types(frame: pd.DataFrame, df: DataFrame) -> pd.DataFrame:
    """Spark's pandas frame with DuckDB's dtypes: microsecond timestamps, dates as timestamps, text as str."""
    for f in df.schema.fields:
        kind = f.dataType.typeName()
        if kind in ("timestamp", "timestamp_ntz", "date"):
            frame[f.name] = pd.to_datetime(frame[f.name]).astype("datetime64[us]")
        elif kind == "string":  # text as str; all-null text as None objects, as DuckDB gives them
            text = frame[f.name]
            frame[f.name] = (
                text.astype("str") if text.notna().any() else pd.Series([None] * len(text), dtype=object)
            )
    return frame


# ---- features and scoring ------------------------------------------------------------------------------
def _as_of(data: SparkShopData, as_of: dt.date | str | None) -> dt.date:
    from churnkit.features._common import as_date

    first, last = data.date_range()
    day = as_date(as_of) if as_of is not None else last + dt.timedelta(days=1)
    if day <= first:
        raise DataTooShortError(
            f"as-of date {day} is not after the first purchase ({first}): no customer base"
        )
    return day


def to_spark(expr: ir.Table) -> DataFrame:
    """An Ibis table on the PySpark backend as a Spark DataFrame (lazy: nothing is collected)."""
    backend = expr.get_backend()
    return backend.raw_sql(backend.compile(expr))


def spark_features(
    data: SparkShopData,
    *,
    as_of: dt.date | str | None = None,
    windows: Any = None,
    session_gap_minutes: int = 30,
    channels: Any = None,
) -> DataFrame:
    """The feature table at ``as_of`` (default: the day after the last purchase) as a Spark DataFrame.

    The same definitions as `churnkit.features.build_features` (one row per customer in the base, keyed by
    customer_id and as_of); pass a model's ``feature_settings`` to get exactly its columns.
    """
    from churnkit.features import DEFAULT_WINDOWS, build_features

    day = _as_of(data, as_of)
    expr = build_features(
        data.ibis("transactions"),
        data.ibis("events"),
        data.ibis("customers"),
        as_of=day,
        windows=DEFAULT_WINDOWS if windows is None else windows,
        session_gap_minutes=session_gap_minutes,
        channels=channels,
    )
    return to_spark(expr)


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Hide MLflow's 'env_manager=local' advice while building the UDF (restored afterwards)."""
    log = logging.getLogger("mlflow")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            yield
    finally:
        log.setLevel(level)


def load_churnkit_model(model_uri: str) -> Any:
    """The `ChurnkitModel` inside a logged churnkit pyfunc model (any MLflow model URI or local folder)."""
    import mlflow

    try:
        with _quiet_mlflow():
            return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().model
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"cannot load model {model_uri!r}: {first}") from None


def score_on_spark(
    spark: SparkSession,
    model_uri: str,
    data: SparkShopData,
    *,
    as_of: dt.date | str | None = None,
    features: DataFrame | None = None,
) -> DataFrame:
    """Batch-score the customer base at ``as_of`` on Spark with a churnkit model logged by `train`.

    The features are computed on Spark with the model's own feature settings (or taken from ``features``,
    a feature table such as `spark_features` returns), then every row goes through
    ``mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local")``: the pyfunc scores row by row, so the
    result equals `ChurnkitModel.score` for every customer. Returns a lazy Spark DataFrame with the columns
    of `SCORE_SCHEMA`. The MLflow tracking URI (for ``models:/`` URIs) is MLflow's current one.
    """
    _require_pyspark()
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    model = load_churnkit_model(model_uri)
    if features is None:
        features = spark_features(data, as_of=as_of, **model.feature_settings)
    model.check_columns(features.columns)
    with _quiet_mlflow():
        udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=SCORE_SCHEMA, env_manager="local")
    scored = features.select(udf(F.struct(*[F.col(_q(c)) for c in features.columns])).alias("_score"))
    return scored.select("_score.*")


# ---- spark-submit entry point ----------------------------------------------------------------------------
def write_frame(frame: DataFrame, out: str | Path) -> str:
    """Write a Spark DataFrame as Parquet or CSV (with a header) by the extension of ``out`` (Spark writes a folder)."""
    target = str(out)
    writer = frame.write.mode("overwrite")
    if file_format(target) == "parquet":
        writer.parquet(target)
    else:
        writer.option("header", True).csv(target)
    return target


def main(argv: list[str] | None = None) -> int:
    """The Spark job: ``spark-submit <this file> features|score ...`` or ``python -m churnkit.engines.spark``.

    ``features`` writes the feature table at the as-of date; ``score`` batch-scores the customer base with a
    logged model through ``spark_udf``. Inputs and outputs may be any path Spark reads and writes (s3://,
    abfss://, dbfs:/, hdfs://, local). Exit code 2 and one line on stderr for a user mistake.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="churnkit.engines.spark", description=main.__doc__)
    parser.add_argument("command", choices=["features", "score"])
    parser.add_argument("--transactions", "-t", help="transactions file or folder (CSV or Parquet)")
    parser.add_argument("--events", "-e", help="browsing events file or folder")
    parser.add_argument("--customers", help="customers file or folder")
    parser.add_argument("--config", "-c", help="YAML config (column mapping, feature windows, tracking)")
    parser.add_argument("--as-of", help="as-of date D (YYYY-MM-DD); default: the day after the last purchase")
    parser.add_argument("--model", "-m", help="score: MLflow model URI, e.g. models:/churnkit@champion")
    parser.add_argument("--tracking-uri", help="score: MLflow tracking URI (default: MLFLOW_TRACKING_URI)")
    parser.add_argument(
        "--rejected-dir", help="driver-side folder for the rows set aside (default: counted only)"
    )
    parser.add_argument("--out", "-o", required=True, help="output (.parquet or .csv; Spark writes a folder)")
    args = parser.parse_args(argv)
    try:
        from churnkit.config import load_config

        cfg = load_config(
            args.config,
            **{
                "inputs.transactions.path": args.transactions,
                "inputs.events.path": args.events,
                "inputs.customers.path": args.customers,
                "tracking.tracking_uri": args.tracking_uri,
                "as_of": args.as_of,
                "engine": "spark",
            },
        )
        if cfg.inputs.transactions.path is None:
            raise InputError(
                "no transactions file given: use --transactions or inputs.transactions.path in --config"
            )
        if args.command == "score" and not args.model:
            raise ConfigError("score needs --model (e.g. models:/churnkit@champion)")
        spark = spark_session()
        data = load_shop_spark(
            cfg.inputs.transactions.path,
            cfg.inputs.events.path,
            cfg.inputs.customers.path,
            inputs=cfg.inputs,
            rejected_dir=args.rejected_dir,
            spark=spark,
        )
        for line in data.report.lines():
            sys.stdout.write(line + "\n")
        if args.command == "features":
            frame = spark_features(
                data,
                as_of=cfg.as_of,
                windows=tuple(cfg.features.windows),
                session_gap_minutes=cfg.features.session_gap_minutes,
            )
        else:
            import mlflow

            from churnkit.tracking.runs import tracking_uri

            mlflow.set_tracking_uri(tracking_uri(cfg))
            frame = score_on_spark(spark, args.model, data, as_of=cfg.as_of)
        target = write_frame(frame, args.out)
        sys.stdout.write(f"{args.command} → {target}\n")
    except ChurnkitError as e:
        sys.stderr.write(f"Error: {e}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
