"""The same groups through Spark SQL (local mode) as through pandas."""

from __future__ import annotations

import os
import sys

import pandas as pd
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]
pyspark = pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def spark(tmp_path_factory):  # type: ignore[no-untyped-def]
    from churnkit.engines.spark import spark_session

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = {
        "spark.sql.shuffle.partitions": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("wh")),
    }
    session = spark_session("local[2]", conf)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


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
