"""The jobs the commands call: they return what they wrote and never print."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from churnkit.config import load_config


@pytest.fixture(scope="module")
def shop(tmp_path_factory):  # type: ignore[no-untyped-def]
    from churnkit.jobs.generate import generate

    return generate(tmp_path_factory.mktemp("shop"), customers=400, seed=5)


def _cfg(shop, **overrides):  # type: ignore[no-untyped-def]
    return load_config(
        None,
        **{
            "inputs.transactions.path": str(shop["transactions"]),
            "inputs.events.path": str(shop["events"]),
            **overrides,
        },
    )


def test_validate_kpis_features_return_what_they_wrote_and_print_nothing(shop, tmp_path, capfd):
    from churnkit.jobs.features import features
    from churnkit.jobs.kpis import KpiFiles, kpis
    from churnkit.jobs.validate import validate

    checked = validate(_cfg(shop, as_of=dt.date(2025, 10, 1)), rejected_dir=tmp_path / "rejected")
    tx = pd.read_csv(shop["transactions"]).drop_duplicates()  # exact duplicates are dropped on load
    lines = checked.lines()
    assert lines[0].startswith(f"transactions: {len(tx):,} rows loaded from ")
    assert lines[1].startswith("events: ")
    assert any(line.startswith("history: ") and "before 2025-10-01" in line for line in lines)

    kpi = kpis(_cfg(shop), data=checked.data, files=KpiFiles.beside(tmp_path / "k.csv"))
    assert kpi.paths == {
        "KPIs": tmp_path / "k.csv",
        "cohort retention": tmp_path / "k_cohorts.csv",
        "heatmap": tmp_path / "k_cohorts.png",
    }
    assert len(pd.read_csv(tmp_path / "k.csv")) == len(kpi.table) > 12  # three years of months
    assert (tmp_path / "k_cohorts.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary file

    d = dt.date(2025, 6, 1)
    table = features(
        _cfg(shop, as_of=d, horizon_days=60), out=tmp_path / "f.csv", labels=True, data=checked.data
    )
    written = pd.read_csv(tmp_path / "f.csv", dtype={"customer_id": str})
    assert len(written) == table.rows and list(written.columns) == table.columns
    assert written["customer_id"].is_unique and written["customer_id"].is_monotonic_increasing
    # the file DuckDB wrote holds what the library gives as pandas (features, then the labels merged on)
    from churnkit.features import build_labels, to_frame
    from churnkit.jobs.features import feature_table

    lab = to_frame(build_labels(checked.data.ibis("transactions"), as_of=d, horizon_days=60))
    expected = feature_table(checked.data, _cfg(shop, as_of=d, horizon_days=60), d).merge(
        lab.drop(columns=["as_of"], errors="ignore"), on="customer_id", how="left"
    )
    expected = expected.sort_values("customer_id").reset_index(drop=True)
    expected["as_of"] = expected["as_of"].dt.strftime("%Y-%m-%d")
    pd.testing.assert_frame_equal(written, expected, check_dtype=False, rtol=1e-12)
    assert set(written["as_of"]) == {"2025-06-01"} and "churned" in written.columns
    assert table.lines() == [
        f"{len(written):,} customers × {written.shape[1] - 2} features at {d} → {tmp_path / 'f.csv'}"
    ]

    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_job_raises_the_library_error_instead_of_exiting(shop, tmp_path):
    from churnkit.errors import DataTooShortError
    from churnkit.jobs.validate import validate

    with pytest.raises(DataTooShortError, match="--as-of 2030-01-01 is outside the data"):
        validate(_cfg(shop, as_of=dt.date(2030, 1, 1)), rejected_dir=tmp_path)
