"""The pipeline runs unchanged on Spark data, and ``spark_udf`` batch scores equal the local scores.

A model trained by `churnkit.pipeline.train` and logged by `churnkit.tracking.runs.log_training_run` to a SQLite
MLflow store scores the same customers on Spark (features on Spark, pyfunc through ``mlflow.pyfunc.spark_udf``)
as `ChurnkitModel.score` does locally: every score column within 1e-9.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from churnkit.engines.spark_scoring import score_on_spark, spark_features
from churnkit.errors import ModelError
from churnkit.pipeline import train
from churnkit.schema import SCORE_COLUMNS

from .conftest import PYSPARK_ON_PANDAS3, assert_same_table

pytestmark = [pytest.mark.spark, PYSPARK_ON_PANDAS3]


def test_spark_udf_scores_equal_local_scores(spark, shop):
    import mlflow

    mlflow.set_tracking_uri(shop["store"])
    assert shop["info"].champion_moved  # the first run holds models:/churnkit@champion
    local = shop["local_scores"]
    scored = score_on_spark(spark, "models:/churnkit@champion", shop["spark"]).toPandas()
    assert list(scored.columns) == list(SCORE_COLUMNS)
    assert len(scored) == len(local) > 400
    assert scored["churn_probability"].between(0, 1).all()
    assert_same_table(scored, local)


def _without_timings(value):  # type: ignore[no-untyped-def]
    """A summary with the wall-clock entries (``seconds``) taken out, recursively."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_pipeline_trains_and_scores_unchanged_on_spark_data(shop):
    """`train` and `ChurnkitModel.score` only use names/has/ibis/date_range/report: same results on Spark.

    One training snapshot and BTYD as the champion of both targets keep the test short (the backtest still fits
    the boosted models on a random hold-out of that snapshot); every snapshot's features and labels come from
    Spark. The boosted model's `ChurnkitModel.score` on Spark tables is checked by `score --engine spark` in
    test_cli.py.
    """
    from churnkit.config import ChampionConfig

    base = shop["cfg"]
    cfg = base.model_copy(
        update={
            "training": base.training.model_copy(update={"n_snapshots": 1}),
            "models": base.models.model_copy(update={"champion": ChampionConfig(churn="btyd", clv="btyd")}),
        }
    )
    on_duck, on_spark = train(shop["duck"], cfg), train(shop["spark"], cfg)
    assert on_spark.mode == on_duck.mode == "boosted"
    assert on_spark.backtest.champions == on_duck.backtest.champions == {"churn": "btyd", "clv": "btyd"}
    assert _without_timings(on_spark.summary) == _without_timings(on_duck.summary)
    assert on_spark.backtest.metrics.keys() == on_duck.backtest.metrics.keys()
    for name in ("churn_auc", "churn_brier", "clv_gini_norm", "clv_mae"):
        assert math.isfinite(on_duck.backtest.metrics[name]), name  # a NaN on both engines would pass below
    for name, value in on_duck.backtest.metrics.items():
        assert on_spark.backtest.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-9, nan_ok=True), name
    assert_same_table(on_spark.scores, on_duck.scores)


def test_spark_job_entry_point(spark, shop, sample_files, tmp_path):
    """`spark-submit .../churnkit/engines/spark_batch.py score|features ...` writes what the library computes."""
    import glob

    import pandas as pd

    from churnkit.data.load import load_shop
    from churnkit.engines.spark_batch import main
    from churnkit.features import build_features

    files = ["-t", str(sample_files["transactions"]), "-e", str(sample_files["events"])]
    files += ["--customers", str(sample_files["customers"])]
    scores = tmp_path / "scores.parquet"
    model = ["--model", "models:/churnkit@champion", "--tracking-uri", shop["store"]]
    assert main(["score", *model, *files, "--as-of", "2025-06-01", "--out", str(scores)]) == 0
    assert_same_table(pd.read_parquet(scores), shop["result"].model.score(shop["duck"], as_of="2025-06-01"))

    feats = tmp_path / "features.csv"
    tx = str(sample_files["transactions"])
    assert main(["features", "-t", tx, "--as-of", "2025-03-01", "--out", str(feats)]) == 0
    got = pd.concat(
        pd.read_csv(p, dtype={"customer_id": str}) for p in sorted(glob.glob(f"{feats}/part-*.csv"))
    )
    want = build_features(load_shop(tx).ibis("transactions"), as_of=dt.date(2025, 3, 1)).to_pandas()
    got["as_of"] = pd.to_datetime(got["as_of"])
    assert_same_table(got, want)

    assert main(["score", "-t", tx, "--out", str(tmp_path / "x.parquet")]) == 2  # no --model: a usage error
    short = spark_features(shop["spark"], as_of="2025-06-01", **shop["result"].model.feature_settings)
    with pytest.raises(ModelError, match="does not match the model's schema"):
        score_on_spark(spark, shop["info"].model_uri, shop["spark"], features=short.drop("sessions"))
