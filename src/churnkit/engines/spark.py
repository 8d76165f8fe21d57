"""The Spark backend: the canonical tables of a shop as Spark DataFrames, loaded by the rules of `churnkit.data.rules`.

All lazy about PySpark (``pip install churnkit[spark]``; importing this module needs neither PySpark nor Java).
`load_shop_spark` reads CSV/Parquet (or Spark/pandas DataFrames) with Spark (`churnkit.engines.spark_read`),
turns the load rules into Spark columns (`churnkit.engines.spark_columns`) and returns a `SparkShopData`, a
`churnkit.data.shop.Shop` like DuckDB's `ShopData`, so `churnkit.pipeline.train` and `ChurnkitModel.score` run
on it unchanged, with every feature computed by the definitions of `churnkit.features` through Ibis's PySpark
backend. Features and batch scores that stay on the cluster: `churnkit.engines.spark_scoring`.

Spark runs with ``spark.sql.session.timeZone=UTC`` (set on the session; Ibis sets it too): canonical
timestamps are ``timestamp_ntz`` holding UTC wall-clock time, exactly as DuckDB's naive ``TIMESTAMP``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnkit.config import InputsConfig, TableInput
from churnkit.data.io import atomic_path
from churnkit.data.report import LoadReport, TableReport
from churnkit.data.rules import no_rows_error, source_columns, table_rules
from churnkit.data.schema import UNKNOWN_EVENTS_SHOWN
from churnkit.engines.spark_columns import q, rule_columns
from churnkit.engines.spark_read import (
    MALFORMED,
    Source,
    malformed_labels,
    malformed_reason,
    read_raw,
    row_numbers,
)
from churnkit.errors import ConfigError, InputError

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


# ---- session ---------------------------------------------------------------------------------------
def require_pyspark() -> None:
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
    require_pyspark()
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
    """The canonical tables of one shop as Spark DataFrames: a `churnkit.data.shop.Shop`, like DuckDB's `ShopData`.

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
    require_pyspark()
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


# ---- one table ---------------------------------------------------------------------------------------
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

    rules = table_rules(name, spec)
    raw, label, fmt, delimiter = read_raw(spark, name, source, spec)
    types = {f.name: f.dataType for f in raw.schema.fields if f.name != MALFORMED}
    numbered, rows_read, _ = row_numbers(raw, check_text=False)
    if rows_read == 0:
        raise no_rows_error(label, name)
    source_cols = list(types)
    src = source_columns(rules, spec, source_cols, label)

    # 1. exact duplicates over all source columns: keep the first row of each group
    # a malformed line is set aside as it is read (as by the DuckDB loader), so never a duplicate
    why_malformed = malformed_reason(numbered, source_cols, types, delimiter, spec, fmt)
    keyed = numbered.withColumn("_malformed", why_malformed)
    keyed = keyed.withColumn("_key", F.when(F.col("_malformed").isNotNull(), F.col("_row")))
    group = [F.col(q(c)) for c in source_cols] + [F.col("_malformed"), F.col("_key")]
    if MALFORMED in raw.columns:
        group.append(F.col(MALFORMED))
    dedup = keyed.groupBy(*group).agg(F.min("_row").alias("_row"), F.count(F.lit(1)).alias("_n"))

    # 2. parse canonical columns (the rules' kinds) and give each unusable row the reason of its first failed check
    exprs, helpers, checks = rule_columns(rules, spec, dedup, types, src)
    columns = list(exprs)
    reasons = [(dedup["_malformed"] == F.lit(t), t) for t in malformed_labels(spec, fmt)]
    reasons += checks
    reason = F.lit(None).cast("string")
    for cond, why in reversed(reasons):
        reason = F.when(cond, F.lit(why)).otherwise(reason)
    parsed = dedup.select(
        *[e.alias(c) for c, e in {**exprs, **helpers}.items()],
        reason.alias("_reason"),
        dedup["_row"],
        dedup["_n"],
    )
    if rules.unique is not None:  # keep the table keyed: a second row for the same key is set aside
        first = Window.partitionBy(rules.unique.column, F.col("_reason").isNull()).orderBy("_row")
        parsed = parsed.withColumn(
            "_reason",
            F.when(
                F.col("_reason").isNull() & (F.row_number().over(first) > 1), F.lit(rules.unique.reason)
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
    if "is_return" in exprs:
        aggs.append(F.sum((ok & F.col("is_return")).cast("long")).alias("returns"))
    if "event_type_known" in helpers:
        aggs.append(F.sum((ok & ~F.col("event_type_known")).cast("long")).alias("unknown"))
    labels = list(dict.fromkeys([why for _, why in reasons] + rules.reasons))
    aggs += [F.sum((F.col("_reason") == why).cast("long")).alias(f"_r{i}") for i, why in enumerate(labels)]
    try:
        stats = parsed.agg(*aggs).first().asDict()
    except BaseException:
        parsed.unpersist()
        raise
    rejected = {why: int(stats[f"_r{i}"]) for i, why in enumerate(labels) if stats[f"_r{i}"]}
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
                malformed=malformed_labels(spec, fmt),
                delimiter=delimiter,
            )
        )
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
        F.when(~is_malformed, _as_written(F.col(f"r.{q(c)}"), t)).alias(c)
        for c, t in zip(source_cols, types, strict=True)
    ]
    if malformed:
        line = F.col(f"r.{MALFORMED}") if MALFORMED in numbered.columns else F.lit(None).cast("string")
        joined = F.concat_ws(delimiter, *[F.coalesce(F.col(f"r.{q(c)}"), F.lit("")) for c in source_cols])
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
