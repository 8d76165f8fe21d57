"""A CSV parsed as it is scanned gives what the raw path (the file copied as text first) gives.

`churnkit.engines.duckdb_sql.load_table` takes the direct path for CSV files and the raw path for frames,
Parquet, quotes left open and purchases derived from events. The two share the parser SQL but not the row
numbering, the duplicate check or the rejected-rows writer, so each dirty case is loaded both ways and the
tables (in row order), the reports and the rejected files must agree.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from churnkit.config import load_config
from churnkit.engines import duckdb_sql

CASES = {
    "transactions, mixed faults": (
        "transactions",
        "customer_id,timestamp,amount,order_id\n"
        "c1,2024-01-01,10,o1\n"
        "c2,notadate,5,o2\n"  # unparseable timestamp
        "c1,2024-02-01,3,\n"  # blank order id: made from the row number
        "c1,2024-02-01,3,\n"  # its exact copy
        "c3,2024-02-01,3,o9,extra\n"  # too many fields
        "c4,2024-03-01 10:00:00+02,4,o4\n"  # an offset: 08:00 UTC
        "c5,2024-03-01T10:00:00,-4,o5\n"  # a return
        "c1,2024-01-01,10,o1\n"  # copy of line 1
        "c6,2024-1-5 1:2:3,1,\n",
    ),
    "transactions, quote left open": (
        "transactions",
        'customer_id,timestamp,amount,order_id\nc1,2024-01-01,10,o1\nc2,"2024-01-02,5,o2\n'
        "c3,2024-01-03,5,o3\nc3,2024-01-03,5,\n",
    ),
    "transactions without order ids": (
        "transactions",
        "customer_id,timestamp,amount\nc1,2024-01-01,10\nc1,2024-01-01,10\nc2,x,3\n",
    ),
    "events": (
        "events",
        "customer_id,timestamp,event_type\nc1,2024-01-01,page_view\nc1,2024-01-01,page_view\n"
        "c2,2024-01-01,cart\nc3,,view\nc4,2024-01-01,Product_View,x\n",
    ),
    "customers, a key twice": (
        "customers",
        "customer_id,signup_date,country\nc1,2024-01-01,GB\nc1,2024-01-02,DE\nc2,bad,FR\n",
    ),
}


def _load(folder: Path, table: str, text: str) -> tuple[dict, list, dict[str, str]]:
    folder.mkdir()
    (folder / "in.csv").write_text(text)
    con = duckdb.connect()
    spec = getattr(load_config().inputs, table)
    report = duckdb_sql.load_table(con, table, str(folder / "in.csv"), spec, folder)
    rows = con.sql(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    files = {p.name: p.read_text() for p in folder.glob("*_rejected.csv")}
    seen = {k: v for k, v in vars(report).items() if k not in ("source", "rejected_file")}
    return seen, rows, files


@pytest.mark.parametrize("case", list(CASES))
def test_direct_scan_matches_the_raw_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    table, text = CASES[case]
    direct = _load(tmp_path / "direct", table, text)
    monkeypatch.setattr(duckdb_sql, "csv_source", lambda *a, **k: None)  # force the raw path
    raw = _load(tmp_path / "raw", table, text)
    assert direct == raw
    report, rows, files = direct
    assert rows, "every case keeps some rows"
    assert sum(report["rejected"].values()) >= 1 and files  # and sets some aside, with a file


def test_direct_scan_row_numbers_and_ids(tmp_path: Path) -> None:
    """Row numbers count the malformed lines before them; blank order ids and offsets as the raw path has them."""
    report, rows, files = _load(tmp_path / "d", *CASES["transactions, mixed faults"])
    assert report["duplicates_dropped"] == 2
    assert files["transactions_rejected.csv"].splitlines()[1:] == [
        "2,unparseable timestamp,c2,notadate,5,o2,",
        '5,too many fields,,,,,"c3,2024-02-01,3,o9,extra"',
    ]
    by_customer = {r[0]: r for r in rows}
    assert [r[2] for r in rows if r[0] == "c1"] == ["o1", "row-3"]  # the copies (lines 4 and 8) dropped
    assert by_customer["c6"][2] == "row-9"  # data row 9: the malformed line 5 counted
    assert by_customer["c4"][1].hour == 8  # +02:00 read as 08:00 UTC, not 10:00
    assert by_customer["c5"][4] is True  # negative amount: a return


EVENTS_PARQUET = (
    "customer_id,session_id,timestamp,event_type,device\n"
    "c1,s1,2024-01-01 10:00:00,page_view,web\n"
    "c1,s1,2024-01-01 10:00:00,page_view,web\n"  # an exact copy: dropped
    "c1,s1,2024-01-01 10:00:00,page_view,app\n"  # not a copy (another device)
    "c2,,2024-01-01 11:00:00,cart,web\n"  # unknown name, counted as a page view
    "c2,,2024-01-01 11:05:00,cart,web\n"
    ",s3,2024-01-02 09:00:00,search,web\n"  # no customer id: set aside
    "c3,s4,,view,\n"  # no timestamp: set aside
    "c3,s4,,view,\n"  # its copy: dropped, not set aside twice
    "c4,s5,2024-01-03 08:00:00,Product_View,web\n"
)


def _load_parquet(folder: Path) -> tuple[duckdb.DuckDBPyConnection, dict, list, dict[str, str]]:
    folder.mkdir()
    (folder / "in.csv").write_text(EVENTS_PARQUET)
    con = duckdb.connect()
    con.sql(
        f"COPY (SELECT * REPLACE (CAST(timestamp AS TIMESTAMP) AS timestamp) FROM read_csv('{folder / 'in.csv'}', "
        f"all_varchar=true)) TO '{folder / 'in.parquet'}' (FORMAT parquet)"
    )
    spec = load_config().inputs.events
    report = duckdb_sql.load_table(con, "events", str(folder / "in.parquet"), spec, folder, in_place=True)
    rows = con.sql("SELECT * FROM events").fetchall()
    files = {p.name: p.read_text() for p in folder.glob("*_rejected.csv")}
    seen = {k: v for k, v in vars(report).items() if k not in ("source", "rejected_file")}
    return con, seen, rows, files


def test_parquet_events_read_in_place_match_a_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Parquet events file stays where it lies (the table is a view over it): the rows, in file order,
    the report and the rejected rows are those of the copied table."""
    con, *in_place = _load_parquet(tmp_path / "view")
    assert duckdb_sql.is_view(con, "events")
    monkeypatch.setattr(duckdb_sql, "_stays_in_file", lambda *a, **k: False)
    copy_con, *copied = _load_parquet(tmp_path / "copy")
    assert not duckdb_sql.is_view(copy_con, "events")
    assert in_place == copied
    report, rows, files = in_place
    assert report["duplicates_dropped"] == 2 and report["rows_loaded"] == 5 == len(rows)
    assert report["rejected"] == {"missing customer_id": 1, "missing timestamp": 1}
    assert report["unknown_event_names"] == {"cart": 2}
    assert [(r[0], r[5]) for r in rows] == [  # customer_id, device
        ("c1", "web"),
        ("c1", "app"),
        ("c2", "web"),
        ("c2", "web"),
        ("c4", "web"),
    ]
    assert files["events_rejected.csv"].splitlines()[1:] == [
        "6,missing customer_id,,s3,2024-01-02 09:00:00,search,web",
        "7,missing timestamp,c3,s4,,view,",
    ]
    # a second load into the same connection replaces the view: with a view, then with a table
    monkeypatch.undo()
    spec = load_config().inputs.events
    again = duckdb_sql.load_table(
        con, "events", str(tmp_path / "view" / "in.parquet"), spec, None, in_place=True
    )
    assert again.rows_loaded == 5 and duckdb_sql.is_view(con, "events")
    (tmp_path / "again.csv").write_text("customer_id,timestamp,event_type\nc9,2024-01-01,page_view\n")
    duckdb_sql.load_table(con, "events", str(tmp_path / "again.csv"), spec, tmp_path)
    assert con.sql("SELECT customer_id FROM events").fetchall() == [("c9",)]


def test_features_from_events_in_place_equal_those_from_a_copy(tmp_path: Path) -> None:
    """The feature table of a sample shop in Parquet: the same with the events read in place as copied."""
    import pandas as pd

    from churnkit.data.load import load_shop
    from churnkit.datasets.sample_shop import generate_shop, write_shop
    from churnkit.features.build import shop_features

    write_shop(generate_shop(300, seed=3), tmp_path, fmt="parquet")
    files = [tmp_path / f"{n}.parquet" for n in ("transactions", "events", "customers")]
    tables = []
    for in_place in (True, False):
        data = load_shop(*files, events_in_place=in_place)
        assert duckdb_sql.is_view(data.con, "events") is in_place
        as_of = data.date_range()[1]
        tables.append(shop_features(data, as_of=as_of).sort_values("customer_id", ignore_index=True))
    assert len(tables[0]) > 100 and tables[0]["sessions"].sum() > 0
    pd.testing.assert_frame_equal(tables[0], tables[1])


def _view_sql(con: duckdb.DuckDBPyConnection) -> str:
    return con.sql("SELECT sql FROM duckdb_views() WHERE view_name = '_parsed_events'").fetchall()[0][0]


@pytest.mark.parametrize("padded", [False, True])
def test_parquet_events_in_place_trim_only_the_columns_that_need_it(tmp_path: Path, padded: bool) -> None:
    """Text columns whose usable values need no trimming are read as they are (no trim on every feature
    query); one padded or blank value anywhere keeps the trim for its column: rows equal the copy's either way."""
    cid, sid = ("' c2 '", "''") if padded else ("'c2'", "NULL")
    rows = (
        f"('c1', 's1', TIMESTAMP '2024-01-01 10:00', 'page_view'), ({cid}, {sid}, TIMESTAMP '2024-01-01 11:00', "
        "' Add_To_Cart'), (' ', 's3', TIMESTAMP '2024-01-02 09:00', 'search')"  # blank id: set aside
    )
    path = tmp_path / "events.parquet"
    con = duckdb.connect()
    con.sql(
        f"COPY (SELECT * FROM (VALUES {rows}) t(customer_id, session_id, timestamp, event_type)) "
        f"TO '{path}' (FORMAT parquet)"
    )
    spec = load_config().inputs.events
    got = []
    for in_place in (True, False):
        con = duckdb.connect()
        report = duckdb_sql.load_table(con, "events", str(path), spec, None, in_place=in_place)
        assert report.rejected == {"missing customer_id": 1}
        got.append(con.sql("SELECT customer_id, session_id, event_type FROM events ORDER BY 1").fetchall())
        if in_place:
            sql = _view_sql(con)
            assert ('"trim"(customer_id)' in sql) is padded and ('"trim"(session_id)' in sql) is padded
            assert '"trim"(event_type)' in sql  # ' Add_To_Cart' is padded in both files
    assert got[0] == got[1] == [("c1", "s1", "page_view"), ("c2", None, "add_to_cart")]


@pytest.mark.parametrize("case", ["transactions, mixed faults", "events", "parquet events in place"])
def test_many_shared_hashes_go_through_a_subquery_with_the_same_copies_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """The rows whose hash is shared are found by a list of the hashes (up to `_LISTED_HASHES` of them) or,
    above it, by a subquery: the same copies go either way."""

    def load(folder: Path) -> tuple:
        if case == "parquet events in place":
            return tuple(_load_parquet(folder)[1:])
        return _load(folder, *CASES[case])

    listed = load(tmp_path / "listed")
    monkeypatch.setattr(duckdb_sql, "_LISTED_HASHES", 0)
    joined = load(tmp_path / "joined")
    assert listed == joined
    assert listed[0]["duplicates_dropped"] >= 1
