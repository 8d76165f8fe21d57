"""Every feature and label for every customer is the same on DuckDB and on Spark (1e-9, same nulls).

Both engines read the same files through their own loaders and run the one Ibis definition of each feature.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from churnkit.config import load_config
from churnkit.data.load import load_shop
from churnkit.data.shop import summary
from churnkit.datasets.cdnow import cdnow_csv
from churnkit.engines.spark import load_shop_spark
from churnkit.features import build_features, build_labels, feature_columns

from .conftest import PYSPARK_ON_PANDAS3, assert_same_table

pytestmark = [pytest.mark.spark, PYSPARK_ON_PANDAS3]

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def cdnow(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The full CDNOW master data (69,659 rows) with configs/cdnow.yaml, loaded by both engines."""
    cfg = load_config(CONFIGS / "cdnow.yaml")
    path = cdnow_csv(tmp_path_factory.mktemp("cdnow"))
    duck = load_shop(path, inputs=cfg.inputs)
    spk = load_shop_spark(path, inputs=cfg.inputs, spark=spark)
    yield duck, spk, cfg
    spk.unpersist()


def features_of(data, as_of: dt.date, **kwargs):  # type: ignore[no-untyped-def]
    return build_features(
        data.ibis("transactions"), data.ibis("events"), data.ibis("customers"), as_of=as_of, **kwargs
    ).to_pandas()


@pytest.mark.parametrize("as_of", [dt.date(2024, 7, 1), dt.date(2025, 10, 1)])
def test_sample_shop_features_and_labels(sample, as_of):
    duck, spk = sample
    a, b = features_of(duck, as_of), features_of(spk, as_of)
    assert len(a) > 100
    names = [
        f.name
        for f in feature_columns(duck.ibis("transactions"), duck.ibis("events"), duck.ibis("customers"))
    ]
    assert set(names) <= set(a.columns)  # browsing and attribute features are in the comparison
    assert any(a[c].isna().any() for c in a.columns)  # and so are nulls
    assert_same_table(b, a)
    la = build_labels(duck.ibis("transactions"), as_of=as_of, horizon_days=90).to_pandas()
    lb = build_labels(spk.ibis("transactions"), as_of=as_of, horizon_days=90).to_pandas()
    assert la["churned"].between(0, 1).all() and 0 < la["churned"].mean() < 1
    assert_same_table(lb, la)


def test_sample_shop_summary(sample):
    duck, spk = sample
    assert summary(spk) == summary(duck)  # `validate` prints these facts (tests/spark/test_cli.py)


@pytest.mark.parametrize("as_of", [dt.date(1997, 10, 1), dt.date(1998, 1, 1)])
def test_cdnow_features_and_labels(cdnow, as_of):
    duck, spk, cfg = cdnow
    a, b = features_of(duck, as_of), features_of(spk, as_of)
    assert len(a) == 23_570  # the whole cohort bought in the first quarter of 1997
    assert_same_table(b, a)
    la = build_labels(duck.ibis("transactions"), as_of=as_of, horizon_days=cfg.horizon_days).to_pandas()
    lb = build_labels(spk.ibis("transactions"), as_of=as_of, horizon_days=cfg.horizon_days).to_pandas()
    assert_same_table(lb, la)
