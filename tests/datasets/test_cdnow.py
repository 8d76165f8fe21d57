"""CDNOW master: the real data set that ships with lifetimes, loaded into the canonical transactions table."""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from churnkit.datasets import cdnow
from churnkit.datasets.cdnow import CSV_COLUMNS, cdnow_csv, cdnow_master_source, load_cdnow_master
from churnkit.kpis import cohort_retention


@pytest.fixture(scope="module")
def master() -> pd.DataFrame:
    return load_cdnow_master()


@pytest.fixture(scope="module")
def raw_rows() -> list[list[str]]:
    """The file split by hand, independent of pandas."""
    lines = cdnow_master_source().read_text().splitlines()
    assert lines[0].split() == ["customer_id", "date", "number_of_cds", "dollar_value"]
    return [line.split() for line in lines[1:] if line.strip()]


def test_source_is_found_without_importing_lifetimes() -> None:
    was_imported = "lifetimes" in sys.modules
    path = cdnow_master_source()
    assert path.name == "CDNOW_master.txt" and path.is_file()
    assert ("lifetimes" in sys.modules) == was_imported


def test_shape_and_types(master: pd.DataFrame) -> None:
    assert list(master.columns) == ["customer_id", "order_id", "timestamp", "amount", "quantity", "is_return"]
    assert len(master) == 69_659
    assert master["customer_id"].nunique() == 23_570
    assert master["order_id"].is_unique
    assert pd.api.types.is_string_dtype(master["customer_id"]) and pd.api.types.is_string_dtype(
        master["order_id"]
    )
    assert master["timestamp"].dtype == "datetime64[us]"
    assert master["amount"].dtype == "float64" and master["quantity"].dtype == "float64"
    assert not master["is_return"].any()


def test_ids_keep_leading_zeros(master: pd.DataFrame) -> None:
    assert master["customer_id"].iloc[0] == "00001"
    assert master["order_id"].iloc[0] == "00001-1"
    assert master["customer_id"].str.fullmatch(r"\d{5}").all()
    assert master["customer_id"].max() == "23570"


def test_values_match_the_raw_file(master: pd.DataFrame, raw_rows: list[list[str]]) -> None:
    total = sum(Decimal(row[3]) for row in raw_rows)
    assert total == Decimal("2500315.63")
    assert master["amount"].sum() == pytest.approx(float(total), abs=1e-6)
    assert master["quantity"].sum() == sum(int(row[2]) for row in raw_rows)
    assert master["customer_id"].tolist() == [row[0] for row in raw_rows]
    assert (master["amount"] == 0).sum() == sum(Decimal(row[3]) == 0 for row in raw_rows) == 80


def test_dates(master: pd.DataFrame) -> None:
    assert master["timestamp"].min() == pd.Timestamp("1997-01-01")
    assert master["timestamp"].max() == pd.Timestamp("1998-06-30")
    assert (master["timestamp"] == master["timestamp"].dt.normalize()).all()  # midnight


def test_everyone_first_bought_in_1997_q1(master: pd.DataFrame) -> None:
    # The data set is the cohort of first-time buyers in 1997 Q1 (Fader, Hardie & Lee 2005).
    cohorts = cohort_retention(master, period="month", normalize=False)
    assert list(cohorts.index) == list(pd.to_datetime(["1997-01-01", "1997-02-01", "1997-03-01"]))
    assert cohorts[0].tolist() == [7846, 8476, 7248]
    assert cohorts[0].sum() == 23_570


def test_csv_roundtrip_is_identical_and_atomic(tmp_path: Path, master: pd.DataFrame) -> None:
    path = cdnow_csv(tmp_path / "cache")
    assert path == tmp_path / "cache" / "cdnow_master.csv"
    assert [p.name for p in path.parent.iterdir()] == ["cdnow_master.csv"]  # no temporary file left
    back = pd.read_csv(path, dtype={"customer_id": "str", "order_id": "str"})
    assert list(back.columns) == list(CSV_COLUMNS)
    back["timestamp"] = pd.to_datetime(back["timestamp"], format="ISO8601").astype("datetime64[us]")
    pd.testing.assert_frame_equal(back, master.loc[:, list(CSV_COLUMNS)])
    assert path.read_text().splitlines()[1] == "00001,00001-1,1997-01-01 00:00:00,11.77,1.0"


def test_second_call_reuses_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNKIT_CACHE", str(tmp_path))
    path = cdnow_csv()
    assert path == tmp_path / "cdnow_master.csv"
    stamp = path.stat().st_mtime_ns

    def must_not_load() -> pd.DataFrame:
        raise AssertionError("the cached CSV should have been reused")

    monkeypatch.setattr(cdnow, "load_cdnow_master", must_not_load)
    assert cdnow_csv() == path
    assert path.stat().st_mtime_ns == stamp


def test_stale_file_is_rewritten(tmp_path: Path, master: pd.DataFrame) -> None:
    path = tmp_path / "cdnow_master.csv"
    path.write_text("stale\n")
    old = cdnow_master_source().stat().st_mtime - 3600
    os.utime(path, (old, old))
    assert cdnow_csv(tmp_path) == path
    assert len(pd.read_csv(path)) == len(master)


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_to_csv(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken_to_csv)
    with pytest.raises(OSError, match="disk full"):
        cdnow_csv(tmp_path)
    assert list(tmp_path.iterdir()) == []
