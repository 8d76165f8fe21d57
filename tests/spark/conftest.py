"""One local SparkSession for the whole Spark test folder, and the helpers its parity tests share."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

try:  # a missing extra fails the run loudly: these tests are part of `make test`, never skipped
    import pyspark  # noqa: F401
except ImportError as e:
    raise ImportError(
        "the spark tests need churnkit[spark] (pip install 'churnkit[spark]') and Java 17"
    ) from e

SPARK_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
}
TOLERANCE = 1e-9
PYSPARK_ON_PANDAS3 = pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")
"""pyspark 4.0.5's Arrow conversion still passes ``copy=False`` to pandas 3 (a Pandas4Warning per column)."""
SAMPLE_CUSTOMERS, SAMPLE_SEED = 600, 11


@pytest.fixture(scope="session")
def spark(tmp_path_factory):  # type: ignore[no-untyped-def]
    """local[2], UTC session time zone, Arrow on, a throw-away warehouse folder, no UI."""
    from churnkit.engines.spark import spark_session

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter (the venv's)
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = spark_session("local[2]", {**SPARK_CONF, "spark.sql.warehouse.dir": str(warehouse)})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """A small sample shop written to CSV (transactions, events, customers, truth)."""
    from churnkit.datasets.sample_shop import generate_shop, write_shop

    folder = tmp_path_factory.mktemp("sample-shop")
    return write_shop(generate_shop(SAMPLE_CUSTOMERS, seed=SAMPLE_SEED), folder, fmt="csv")


@pytest.fixture(scope="session")
def sample(spark, sample_files):  # type: ignore[no-untyped-def]
    """The sample shop loaded from the same files by the DuckDB loader and by the Spark loader."""
    from churnkit.data.load import load_shop
    from churnkit.engines.spark import load_shop_spark

    files = tuple(sample_files[n] for n in ("transactions", "events", "customers"))
    spk = load_shop_spark(*files, spark=spark)
    yield load_shop(*files), spk
    spk.unpersist()


@pytest.fixture(scope="session")
def shop(sample, sample_files, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A boosted model trained on the DuckDB tables and logged to a SQLite store, registered as champion."""
    from churnkit.config import load_config
    from churnkit.pipeline import train
    from churnkit.tracking.runs import log_training_run

    duck, spk = sample
    folder = tmp_path_factory.mktemp("scoring")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    cfg = load_config(
        None,
        **{
            "training.n_snapshots": 2,
            "training.spacing_days": 60,
            "segments.n_clusters": 4,  # no silhouette search over k: most of a small train's time
            "tracking.tracking_uri": store,
        },
    )
    result = train(duck, cfg)
    assert result.mode == "boosted"
    sources = {n: str(sample_files[n]) for n in duck.names}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # the store's artifacts (./mlruns) go to the temp folder, not the working tree
        info = log_training_run(result, cfg, duck, sources=sources, models_dir=folder / "models")
    local = result.model.score(duck)  # ChurnkitModel.score on the DuckDB tables: the reference scores
    return {
        "duck": duck,
        "spark": spk,
        "cfg": cfg,
        "result": result,
        "info": info,
        "store": store,
        "local_scores": local,
    }


def assert_same_table(
    left: pd.DataFrame, right: pd.DataFrame, *, key: str | list[str] = "customer_id"
) -> None:
    """Same rows (by key), same columns, every value equal: numbers within 1e-9 and nulls in the same places."""
    assert list(left.columns) == list(right.columns)
    keys = [key] if isinstance(key, str) else key
    left = left.sort_values(keys, ignore_index=True)
    right = right.sort_values(keys, ignore_index=True)
    assert len(left) == len(right)
    for k in keys:
        assert left[k].astype(str).tolist() == right[k].astype(str).tolist(), k
    for col in left.columns:
        a, b = left[col], right[col]
        numeric = pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a)
        if numeric or (pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b)):
            x, y = a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)
            assert np.array_equal(np.isnan(x), np.isnan(y)), f"{col}: nulls differ"
            both = ~np.isnan(x)
            assert np.allclose(x[both], y[both], rtol=TOLERANCE, atol=TOLERANCE), (
                f"{col}: max |diff| {np.max(np.abs(x[both] - y[both]))}"
            )
        else:
            xa = [None if pd.isna(v) else str(v) for v in a]
            yb = [None if pd.isna(v) else str(v) for v in b]
            assert xa == yb, col
