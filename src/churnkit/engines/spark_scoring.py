"""Features and batch scores on Spark: the Ibis feature definitions through the PySpark backend, ``spark_udf``.

* `spark_features` returns the feature table at an as-of date as a Spark DataFrame (it stays on the cluster).
* `score_on_spark` scores that table with the logged pyfunc model through ``mlflow.pyfunc.spark_udf``.
* `run_job` is the Spark job behind ``python -m churnkit.engines.spark_batch``: load, compute, write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnkit.data.io import file_format
from churnkit.engines.spark import SESSION_CONF, SparkShopData, require_pyspark
from churnkit.engines.spark_columns import q
from churnkit.errors import DataTooShortError, ModelError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from pyspark.sql import DataFrame, SparkSession

SCORE_SCHEMA = (
    "customer_id string, as_of string, churn_probability double, p_alive double, "
    "expected_purchases double, p_purchase_30d double, expected_next_purchase string, predicted_clv double, "
    "discounted_clv double, segment string, cluster long, rfm_segment string, rfm_score long, "
    "value_tier string, risk_tier string, top_reasons string, recommended_action string, "
    "expected_saved_value double"
)
"""The score table (`churnkit.schema.SCORE_COLUMNS`) as the ``result_type`` of the Spark UDF."""


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
    require_pyspark()
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
    scored = features.select(udf(F.struct(*[F.col(q(c)) for c in features.columns])).alias("_score"))
    return scored.select("_score.*")


def write_frame(frame: DataFrame, out: str | Path) -> str:
    """Write a Spark DataFrame as Parquet or CSV (with a header) by the extension of ``out`` (Spark writes a folder)."""
    target = str(out)
    writer = frame.write.mode("overwrite")
    if file_format(target) == "parquet":
        writer.parquet(target)
    else:
        writer.option("header", True).csv(target)
    return target
