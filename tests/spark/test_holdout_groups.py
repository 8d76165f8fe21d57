"""The same control groups through Spark SQL (local mode) as through pandas (uses the folder's SparkSession)."""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


def test_spark_sql_expression_gives_the_same_draws_and_groups(spark):
    from pyspark.sql import functions as F

    from churnkit.monitoring.holdout import assign_groups, holdout_uniform, holdout_uniform_sql

    ids = pd.Series([f"C{i:06d}" for i in range(5000)] + ["ü-ß", "it's", "a\\b", "42"])
    salt = "spring'26"
    df = spark.createDataFrame(pd.DataFrame({"customer_id": ids}))
    out = (
        df.withColumn("u", F.expr(holdout_uniform_sql("customer_id", salt=salt)))
        .withColumn("group", F.when(F.col("u") < 0.1, "control").otherwise("target"))
        .toPandas()
        .set_index("customer_id")
        .loc[ids]
    )
    assert out["u"].tolist() == holdout_uniform(ids, salt=salt).tolist()  # bit for bit
    assert out["group"].tolist() == assign_groups(ids, 0.1, salt=salt).tolist()
