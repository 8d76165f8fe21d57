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


def test_the_score_job_frees_the_shop_it_loaded_before_the_pandas_conversion(shop, tmp_path, monkeypatch):
    """The job closes the DuckDB shop it loaded once the features are out of the engine, inside `to_frame`
    (1M customers: its tables and the pandas features are then never in memory together), and scores
    exactly as with a shop the caller passes, which it leaves open."""
    import duckdb

    import churnkit.features.training as training
    import churnkit.jobs.score as job
    from churnkit.data.shop import load_shop
    from churnkit.pipeline import train

    cfg = _cfg(shop, **{"training.n_snapshots": 2, "training.spacing_days": 60})
    given = load_shop(cfg, rejected_dir=tmp_path)
    model = train(given, cfg).model
    shops, open_after_conversion = [], []

    def remember(*args, **kwargs):  # type: ignore[no-untyped-def]
        shops.append(load_shop(*args, **kwargs))
        return shops[-1]

    def is_open(data) -> bool:  # type: ignore[no-untyped-def]
        try:
            data.con.execute("SELECT 1")
        except duckdb.Error:
            return False
        return True

    to_frame = training.to_frame

    def spy(table, **kwargs):  # type: ignore[no-untyped-def]
        frame = to_frame(table, **kwargs)
        if frame.shape[1] > 40:  # the feature table
            open_after_conversion.append(is_open(shops[-1]))
        return frame

    monkeypatch.setattr(job, "load_shop", remember)
    monkeypatch.setattr(training, "to_frame", spy)  # where the snapshot converts the features
    own = job.score(cfg, model=model, out=tmp_path / "own.csv")
    assert own.data is shops[-1] and open_after_conversion == [False]

    shops.append(given)
    passed = job.score(cfg, model=model, out=tmp_path / "passed.csv", data=given)
    assert open_after_conversion == [False, True] and is_open(given)  # the caller's shop stays open
    pd.testing.assert_frame_equal(own.scores, passed.scores)
    assert (tmp_path / "own.csv").read_bytes() == (tmp_path / "passed.csv").read_bytes()


def test_to_frame_runs_fetched_after_the_engine_result_is_out(shop, tmp_path):
    """`fetched` may close the engine: the conversion reads only the fetched Arrow table."""
    from churnkit.data.shop import load_shop
    from churnkit.features import to_frame

    data = load_shop(_cfg(shop), rejected_dir=tmp_path)
    expected = to_frame(data.ibis("transactions"))
    calls = []
    frame = to_frame(data.ibis("transactions"), fetched=lambda: calls.append(data.con.close()))
    assert calls == [None]
    pd.testing.assert_frame_equal(frame, expected)
