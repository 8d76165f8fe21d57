"""`--engine spark` (or ``engine: spark`` in the config) through the command line, and the optional extra."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pandas as pd
import pytest

from churnkit.data.load import load_shop
from churnkit.features import build_features

from .conftest import PYSPARK_ON_PANDAS3, assert_same_table

pytestmark = [pytest.mark.spark, PYSPARK_ON_PANDAS3]


def common(sample_files):  # type: ignore[no-untyped-def]
    return [
        "--transactions",
        sample_files["transactions"],
        "--events",
        sample_files["events"],
        "--customers",
        sample_files["customers"],
    ]


def test_engine_spark_in_the_config_file_validates_the_same(cli, spark, sample_files, tmp_path):
    cfg = tmp_path / "spark.yaml"
    cfg.write_text("engine: spark\n")
    before = {t.name for t in spark.catalog.listTables()}
    duck = cli("validate", *common(sample_files), "--rejected-dir", tmp_path / "r")
    spk = cli("validate", "--config", cfg, *common(sample_files), "--rejected-dir", tmp_path / "r")
    assert duck.exit_code == spk.exit_code == 0, spk.stderr
    views = {t.name for t in spark.catalog.listTables()} - before
    assert any(v.startswith("churnkit_") and v.endswith("_transactions") for v in views)  # Spark loaded it
    assert spk.stdout == duck.stdout
    assert "browsing-only prospects" in spk.stdout


def test_features_command_on_spark(cli, sample_files, tmp_path):
    tx = sample_files["transactions"]
    out = tmp_path / "features.csv"
    result = cli("features", "--transactions", tx, "--as-of", "2025-03-01", "--out", out, "--engine", "spark")
    assert result.exit_code == 0, result.stderr
    want = build_features(load_shop(tx).ibis("transactions"), as_of=dt.date(2025, 3, 1)).to_pandas()
    got = pd.read_csv(out, dtype={"customer_id": str}, parse_dates=["as_of"])
    assert_same_table(got, want)


def test_score_command_on_spark(cli, shop, sample_files, tmp_path):
    model = str(shop["info"].local_model)
    for engine in ("duckdb", "spark"):
        result = cli(
            "score",
            "--model",
            model,
            *common(sample_files),
            "--out",
            tmp_path / f"{engine}.csv",
            "--engine",
            engine,
            "-q",
        )
        assert result.exit_code == 0, result.stderr
    a = pd.read_csv(tmp_path / "duckdb.csv", dtype={"customer_id": str}, keep_default_na=False)
    b = pd.read_csv(tmp_path / "spark.csv", dtype={"customer_id": str}, keep_default_na=False)
    assert_same_table(b, a)


@pytest.mark.parametrize(
    ("engine", "message"),
    [("spark", "install churnkit[spark]"), ("polars", "invalid value for 'engine'")],
)
def test_engine_errors_exit_2_without_traceback(cli, monkeypatch, sample_files, engine, message):
    # as if the spark extra were not installed: importing pyspark fails
    for module in ("pyspark", "pyspark.sql"):
        monkeypatch.setitem(sys.modules, module, None)
    result = cli("validate", "--transactions", sample_files["transactions"], "--engine", engine)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr


def test_nothing_but_the_spark_module_imports_pyspark():
    code = (
        "import sys\n"
        "import churnkit, churnkit.cli, churnkit.pipeline, churnkit.jobs.demo, churnkit.features\n"
        "import churnkit.tracking.runs, churnkit.jobs.segment, churnkit.engines.spark\n"
        "import churnkit.engines.spark_scoring, churnkit.engines.spark_batch, churnkit.data.shop\n"
        "from churnkit.cli import app\n"
        "from typer.testing import CliRunner\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j'))\n"
        "assert not leaked, leaked\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
