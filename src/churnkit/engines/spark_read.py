"""Reading a source with Spark as it is: CSV as text (malformed lines kept in `MALFORMED`), Parquet, frames.

The first step of the Spark loader (`churnkit.engines.spark`): the raw frame, its 1-based source row numbers and
why a CSV line is not a record, with the reason texts of `churnkit.data.rules`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnkit.config import TableInput
from churnkit.data.io import (
    CSV_SUFFIXES,
    check_header,
    file_format,
    read_header,
    resolve_source,
    sniff_delimiter,
)
from churnkit.data.rules import (
    TOO_FEW_FIELDS,
    TOO_MANY_FIELDS,
    UNBALANCED_QUOTE,
    not_text_error,
    not_text_reason,
)
from churnkit.engines.spark_columns import is_text, q
from churnkit.errors import ChurnkitError, InputError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

Source = Any  # str | Path | pandas.DataFrame | pyspark.sql.DataFrame
_ROW_BITS = 33  # monotonically_increasing_id(): partition id in the upper 31 bits, row in partition below
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")  # s3://, s3a://, hdfs://, abfss://, dbfs:/, file:/ ...


def _is_spark_frame(source: Any) -> bool:
    return type(source).__module__.startswith("pyspark.") and hasattr(source, "schema")


MALFORMED = "_churnkit_malformed"
"""The column Spark's PERMISSIVE CSV reader puts a line in when it is not a record of the table."""


def read_raw(
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


def row_numbers(raw: DataFrame, *, check_text: bool) -> tuple[DataFrame, int, bool]:
    """raw with ``_mid`` and ``_row`` (1-based, in source order), its row count, and (``check_text``) whether
    any text holds U+FFFD, Spark's stand-in for bytes that are not UTF-8. One pass over the source."""
    from pyspark.sql import functions as F

    frame = raw.withColumn("_mid", F.monotonically_increasing_id())
    texts = [F.coalesce(frame[q(c)], F.lit("")) for c, t in raw.dtypes if t == "string" and check_text]
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


def malformed_labels(spec: TableInput, fmt: str | None) -> list[str]:
    return (
        [TOO_MANY_FIELDS, TOO_FEW_FIELDS, UNBALANCED_QUOTE, not_text_reason(spec.encoding)]
        if fmt == "csv"
        else []
    )


def malformed_reason(
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
        texts = [F.coalesce(numbered[q(c)], F.lit("")) for c in source_cols if is_text(types[c])]
        if texts:
            bad = F.concat_ws("", *texts).contains("\ufffd")
            reason = F.when(reason.isNull() & bad, F.lit(not_text_reason(None))).otherwise(reason)
    return reason
