"""The Spark loader gives the DuckDB loader's canonical tables, counts and rejected rows, file for file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churnkit.config import load_config
from churnkit.data.load import load_shop
from churnkit.engines.spark import load_shop_spark
from churnkit.errors import InputError

from .conftest import PYSPARK_ON_PANDAS3

pytestmark = [pytest.mark.spark, PYSPARK_ON_PANDAS3]

MESSY_TX = """customer_id,timestamp,amount,order_id,channel
007,2024-01-05 10:00:00,10.5,A1,web
007,2024-01-05 10:00:00,10.5,A1,web
008,2024-02-06,20,,store
008,2024-02-06,20,,store
009,2024-03-01T10:00:00+02:00,  7.25 ,A3,
010,2024-03-01T10:00:00-05:00,1_000,A4,web
011,2024-03-01T23:30:00Z,-4.5,A5R,web
012,2024-03-01 10:00:00 +02:00,3,A6,app
013,31/31/2024,5,A7,web
,2024-01-07,5,A8,web
   ,2024-01-07,5,A8b,web
014,2024-01-07,twelve,A9,web
015,2024-01-07,,A10,web
016,,5,A11,web
017,2024,5,A12,web
018,2024-03-01T10,5,A13,web
019,2024-01-08,1.5d,A14,web
020,2024-01-08,1e400,A15,web
021,2024-01-08,nan,A16,web
0022,2024-01-09 08:00:00.123456,1e2,A17,web
023,2024-02-30,1,A18,web
024,2024-01-09 07:00:00 Europe/Berlin,2,A19,web
025,2024-01-10,+.5,,
"""
MESSY_EVENTS = """customer_id,timestamp,event_type,session_id
007,2024-01-01,Product_View,s1
007,2024-01-01 00:01,wishlist,s1
007,2024-01-01 00:02,,s1
,2024-01-01 00:03,page_view,
008,2024-02-06T09:00:00+01:00, add_to_cart ,
008,2024-02-06T09:00:00+01:00, add_to_cart ,
008,yesterday,checkout,
"""
MESSY_CUSTOMERS = """customer_id,signup_date,country,score
007,2023-01-01,DE,1.5
007,2023-02-01,FR,2
008,2023-13-01,,x
009,2023-03-01T00:00:00+02:00,NL,
,2023-01-01,US,3
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def both(tmp_path: Path, spark, *sources, **kwargs):  # type: ignore[no-untyped-def]
    """Load the same files with both loaders, each writing its rejected rows to its own folder."""
    duck = load_shop(*sources, rejected_dir=tmp_path / "duckdb", **kwargs)
    spk = load_shop_spark(*sources, rejected_dir=tmp_path / "spark", spark=spark, **kwargs)
    return duck, spk


def assert_same_load(duck, spk, tmp_path: Path, *, raw_text: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Same tables, reports and rejected files (with typed Parquet input only their row numbers and reasons)."""
    assert spk.names == duck.names
    for name in duck.names:
        a, b = duck.frame(name), spk.frame(name)
        pd.testing.assert_frame_equal(b, a, check_dtype=False, obj=name)
        ra, rb = duck.report.tables[name], spk.report.tables[name]
        same = {f.name for f in dataclasses.fields(ra)} - {"rejected_file"}
        assert {k: getattr(rb, k) for k in same} == {k: getattr(ra, k) for k in same}, name
        assert (ra.rejected_file is None) == (rb.rejected_file is None)
        if ra.rejected_file:
            fa = pd.read_csv(ra.rejected_file, dtype=str, keep_default_na=False)
            fb = pd.read_csv(rb.rejected_file, dtype=str, keep_default_na=False)
            if not raw_text:  # typed values are written by each engine's own formatting
                fa, fb = fa[["source_row", "reason"]], fb[["source_row", "reason"]]
            pd.testing.assert_frame_equal(fb, fa, obj=f"{name}_rejected.csv")
    assert spk.report.lines() == [
        line.replace(str(tmp_path / "duckdb"), str(tmp_path / "spark")) for line in duck.report.lines()
    ]
    assert spk.date_range() == duck.date_range()


def test_messy_csv_files_load_the_same(spark, tmp_path):
    tx = write(tmp_path / "tx.csv", MESSY_TX)
    ev = write(tmp_path / "ev.csv", MESSY_EVENTS)
    cu = write(tmp_path / "cu.csv", MESSY_CUSTOMERS)
    duck, spk = both(tmp_path, spark, tx, ev, cu)
    assert_same_load(duck, spk, tmp_path)
    t = duck.report.tables["transactions"]
    # the file really has every kind of bad row the loaders set aside
    assert t.duplicates_dropped == 2
    assert set(t.rejected) == {
        "missing customer_id",
        "missing timestamp",
        "missing amount",
        "unparseable timestamp",
        "non-numeric amount",
    }
    assert spk.frame("transactions").set_index("customer_id").loc["009", "timestamp"] == pd.Timestamp(
        "2024-03-01 08:00:00"
    )
    assert "row-3" in set(spk.frame("transactions")["order_id"])  # filled from the first copy's row


def test_configured_time_zone_and_timestamp_format(spark, tmp_path):
    tx = write(
        tmp_path / "tx.csv",
        "cust;when;value\n1;05/03/2024 10:00;1\n2;31/10/2024 02:30;2\n3;2024-03-05;3\n4;05/13/2024 10:00;4\n",
    )
    cfg = load_config(
        None,
        **{
            "inputs.transactions.columns": {"customer_id": "cust", "timestamp": "when", "amount": "value"},
            "inputs.transactions.timestamp_format": "%d/%m/%Y %H:%M",
            "inputs.transactions.timezone": "Europe/Berlin",
            "inputs.transactions.delimiter": ";",
        },
    )
    duck, spk = both(tmp_path, spark, tx, inputs=cfg.inputs)
    assert_same_load(duck, spk, tmp_path)
    assert duck.report.tables["transactions"].rejected == {"unparseable timestamp": 2}


def test_naive_and_offset_timestamps_in_a_non_utc_zone(spark, tmp_path):
    tx = write(
        tmp_path / "tx.csv",
        "customer_id,timestamp,amount\n"
        "1,2024-07-01 12:00:00,1\n"
        "2,2024-07-01T12:00:00+02:00,1\n"
        "3,2024-07-01T12:00:00Z,1\n"
        "4,2024-01-15,1\n"
        "5,2024-07-01 12:00:00 UTC,1\n",
    )
    cfg = load_config(None, **{"inputs.transactions.timezone": "Europe/Berlin"})
    duck, spk = both(tmp_path, spark, tx, inputs=cfg.inputs)
    assert_same_load(duck, spk, tmp_path)
    assert spk.frame("transactions")["timestamp"].iloc[0] == pd.Timestamp("2024-07-01 10:00:00")


def test_order_lines_with_unit_price_and_cancel_prefix(spark, tmp_path):
    tx = write(
        tmp_path / "lines.csv",
        "Invoice,Customer ID,InvoiceDate,Quantity,Price\n"
        "536365,17850,2010-12-01 08:26:00,6,2.55\n"
        "536365,17850,2010-12-01 08:26:00,8,3.39\n"
        "C536379,17850,2010-12-02 09:41:00,-1,2.55\n"
        "536366,17851,2010-12-02 09:41:00,x,2.55\n"
        "536367,17852,2010-12-02 09:41:00,2,\n",
    )
    cfg = load_config(
        None,
        **{
            "inputs.transactions.columns": {
                "customer_id": "Customer ID",
                "timestamp": "InvoiceDate",
                "order_id": "Invoice",
            },
            "inputs.transactions.amount_from": {"quantity": "Quantity", "unit_price": "Price"},
            "inputs.transactions.cancel_prefix": "C",
        },
    )
    duck, spk = both(tmp_path, spark, tx, inputs=cfg.inputs)
    assert_same_load(duck, spk, tmp_path)
    assert spk.report.tables["transactions"].returns == 1


def test_typed_parquet_loads_the_same(spark, tmp_path):
    aware = pd.to_datetime(["2024-03-01 10:00:00+02:00", "2024-03-02 23:30:00-05:00", None], utc=True)
    table = pa.table(
        {
            "customer_id": pa.array([7, 8, None], pa.int64()),
            "timestamp": pa.array(aware.astype("datetime64[us, UTC]")),
            "naive": pa.array(
                pd.to_datetime(["2024-03-01 10:00", "2024-03-02", "2024-03-03"], format="ISO8601").astype(
                    "datetime64[us]"
                )
            ),
            "day": pa.array(pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-03"]).date, pa.date32()),
            "amount": pa.array([1.5, -2.0, float("nan")]),
            "order_id": pa.array(["o1", None, "o3"]),
        }
    )
    for ts in ("timestamp", "naive", "day"):
        path = tmp_path / f"tx_{ts}.parquet"
        pq.write_table(table, path)
        cfg = load_config(None, **{"inputs.transactions.columns": {"timestamp": ts}})
        duck, spk = both(tmp_path / ts, spark, path, inputs=cfg.inputs)
        assert_same_load(duck, spk, tmp_path / ts, raw_text=False)


@pytest.mark.parametrize(
    ("case", "content", "message"),
    [
        ("missing_column.csv", "customer_id,timestamp\n1,2024-01-01\n", "required column 'amount' not found"),
        ("nope.csv", None, "file not found"),
        ("empty.csv", "", "the file is empty"),
        ("header_only.csv", "customer_id,timestamp,amount\n", "no data rows"),
        ("tx.xlsx", "customer_id,timestamp,amount\n1,2024-01-01,1\n", "unknown file extension"),
        ("corrupt.parquet", "this is not parquet", "cannot read the file as PARQUET"),
        (
            "dup_names.csv",
            "customer_id,timestamp,amount,Amount\n1,2024-01-01,1,2\n",
            "duplicate column names",
        ),
        ("blank_name.csv", "customer_id,timestamp,amount,\n1,2024-01-01,1,2\n", "blank column name"),
    ],
)
def test_unusable_files_give_the_same_error(spark, tmp_path, case, content, message):
    path = tmp_path / case
    if content is not None:
        path.write_bytes(content.encode("latin-1"))
    with pytest.raises(InputError, match=message) as duck:
        load_shop(path)
    with pytest.raises(InputError, match=message) as spk:
        load_shop_spark(path, spark=spark)
    assert str(path) in str(spk.value)
    if case != "corrupt.parquet":  # the engines' own reasons differ after the common prefix
        assert str(spk.value) == str(duck.value)


def test_pandas_frames_are_validated_like_files(spark):
    frame = pd.DataFrame(
        {"customer_id": ["1", None, "2"], "timestamp": ["2024-01-01", "2024-01-02", "x"], "amount": [1, 2, 3]}
    )
    duck, spk = load_shop(frame), load_shop_spark(frame, spark=spark)
    assert spk.report.tables["transactions"].rejected == duck.report.tables["transactions"].rejected
    pd.testing.assert_frame_equal(spk.frame("transactions"), duck.frame("transactions"), check_dtype=False)


def test_a_folder_of_part_files_is_read_whole(spark, tmp_path):
    """Spark-style datasets (a folder without an extension, or ending in /) are read as Parquet."""
    frame = pd.DataFrame(
        {
            "customer_id": ["1", "2", "2"],
            "timestamp": ["2024-01-01", "2024-01-02", "x"],
            "amount": [1.0, 2, 3],
        }
    )
    folder = tmp_path / "transactions"
    folder.mkdir()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "part-00000.parquet")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "single.parquet")
    duck = load_shop(tmp_path / "single.parquet")
    for source in (folder, f"{folder}/"):
        spk = load_shop_spark(source, spark=spark)
        pd.testing.assert_frame_equal(
            spk.frame("transactions"), duck.frame("transactions"), check_dtype=False
        )
        assert spk.report.tables["transactions"].rejected == {"unparseable timestamp": 1}
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no data files"):
        load_shop_spark(tmp_path / "empty", spark=spark)


MALFORMED_TX = (
    b"customer_id,timestamp,amount,order_id\n"
    b"001,2024-01-05 10:00:00,10.5,A1\n"
    b"002,2024-01-06,5,A2,EXTRA\n"  # too many fields
    b"003,2024-01-07,5\n"  # too few fields
    b"004,not a date,5,A4\n"  # a bad value after malformed lines keeps its true row number
    b'005,"2024-01-08,5,A5\n'  # an unbalanced quote
    b"006,2024-02-06,20,A6\n"
    b"007,2024-01-09,5,caf\xe9\n"  # bytes that are not UTF-8
    b"008,2024-03-07,30,A8\n"
    b"008,2024-03-07,30,A8\n"  # an exact duplicate
)


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
def test_malformed_lines_are_set_aside_the_same(spark, tmp_path, gz):
    import gzip

    path = tmp_path / ("tx.csv.gz" if gz else "tx.csv")
    path.write_bytes(gzip.compress(MALFORMED_TX) if gz else MALFORMED_TX)
    duck, spk = both(tmp_path, spark, path)
    assert spk.names == duck.names
    pd.testing.assert_frame_equal(spk.frame("transactions"), duck.frame("transactions"), check_dtype=False)
    ra, rb = duck.report.tables["transactions"], spk.report.tables["transactions"]
    assert (
        ra.rejected
        == rb.rejected
        == {
            "too many fields": 1,
            "too few fields": 1,
            "unparseable timestamp": 1,
            "unbalanced quote": 1,
            "not UTF-8 text": 1,
        }
    )
    assert (rb.rows_read, rb.rows_loaded, rb.duplicates_dropped) == (ra.rows_read, ra.rows_loaded, 1)
    fa = pd.read_csv(ra.rejected_file, dtype=str, keep_default_na=False)
    fb = pd.read_csv(rb.rejected_file, dtype=str, keep_default_na=False)
    assert fa["source_row"].tolist() == fb["source_row"].tolist() == ["2", "3", "4", "5", "7"]
    assert fa["reason"].tolist() == fb["reason"].tolist()
    # the text of a structurally broken line is kept as it is; undecodable bytes are shown by each engine's own mark
    text = fa["reason"] != "not UTF-8 text"
    assert fa.loc[text, "raw_line"].tolist() == fb.loc[text, "raw_line"].tolist()
    assert fa.loc[~text, "raw_line"].tolist() == ["007,2024-01-09,5,caf?"]
    assert fb.loc[~text, "raw_line"].tolist() == ["007,2024-01-09,5,caf\ufffd"]
    pd.testing.assert_frame_equal(fb.drop(columns="raw_line"), fa.drop(columns="raw_line"))


def test_event_vocabularies_map_the_same(spark, tmp_path):
    tx = write(tmp_path / "tx.csv", "customer_id,timestamp,amount\n1,2024-01-01,3\n")
    ev = write(
        tmp_path / "ev.csv",
        "customer_id,timestamp,event_type\n"
        + "".join(
            f"1,2024-01-01 00:{i:02d},{name}\n"
            for i, name in enumerate(
                [
                    "Product Viewed",
                    "product added",
                    "Order Completed",
                    "page",
                    "cart",
                    "cart",
                    "Wishlist",
                    "view",
                ]
            )
        ),
    )
    cfg = load_config(
        None,
        **{"inputs.events.vocabulary": "segment", "inputs.events.event_types": {"product_view": ["view"]}},
    )
    duck, spk = both(tmp_path, spark, tx, ev, inputs=cfg.inputs)
    assert_same_load(duck, spk, tmp_path)
    assert spk.frame("events")["event_type"].tolist() == [
        "product_view",
        "add_to_cart",
        "purchase",
        "page_view",
        "page_view",
        "page_view",
        "page_view",
        "product_view",
    ]
    assert spk.report.tables["events"].unknown_event_names == {"cart": 2, "wishlist": 1}


def test_both_engines_take_their_reasons_and_required_columns_from_the_rules(spark, tmp_path, monkeypatch):
    """Renamed reasons and a newly required column in `churnkit.data.rules` reach both loaders alike."""
    from churnkit.data import rules
    from churnkit.data.shop import Shop

    checks = tuple(
        dataclasses.replace(c, reason=f"rule: {c.reason}") if c.column == "amount" else c
        for c in rules.TRANSACTIONS.checks
    )
    monkeypatch.setitem(rules.RULES, "transactions", dataclasses.replace(rules.TRANSACTIONS, checks=checks))
    tx = tmp_path / "tx.csv"
    tx.write_text("customer_id,timestamp,amount\n1,2024-01-01,\n2,2024-01-02,x\n3,2024-01-03,5\n")
    duck, spk = load_shop(tx), load_shop_spark(tx, spark=spark)
    want = {"rule: missing amount": 1, "rule: non-numeric amount": 1}
    assert duck.report.tables["transactions"].rejected == want
    assert spk.report.tables["transactions"].rejected == want
    assert isinstance(spk, Shop) and isinstance(duck, Shop)
    spk.unpersist()

    columns = tuple(
        dataclasses.replace(c, required=True) if c.name == "channel" else c
        for c in rules.TRANSACTIONS.columns
    )
    monkeypatch.setitem(rules.RULES, "transactions", dataclasses.replace(rules.TRANSACTIONS, columns=columns))
    for load in (load_shop, lambda p: load_shop_spark(p, spark=spark)):
        with pytest.raises(InputError, match="required column 'channel' not found; columns present"):
            load(tx)
