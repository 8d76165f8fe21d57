"""Bad input gets a clear error and loses nothing (docs/design.md), checked through the CLI."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from churnkit.config import load_config
from churnkit.data.load import load_shop
from churnkit.errors import ConfigError, InputError

GOOD = "customer_id,timestamp,amount,order_id\n007,2024-01-05 10:00:00,10.5,A1\n008,2024-02-06,20,A2\n"


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def rejected_rows(folder: Path, table: str = "transactions") -> list[dict[str, str]]:
    with open(folder / f"{table}_rejected.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# (case id, file name, content, extra CLI args, expected exit code, expected message fragment,
#  expected rejected reasons (None: no rejected file expected))
CASES = [
    (
        "missing_column",
        "tx.csv",
        "customer_id,timestamp\n1,2024-01-01\n",
        [],
        2,
        "required column 'amount' not found",
        None,
    ),
    (
        "missing_mapped_column",
        "tx.csv",
        "cust,ts,value\n1,2024-01-01,3\n",
        [],
        2,
        "required column 'customer_id' not found",
        None,
    ),
    ("file_not_found", "nope.csv", None, [], 2, "file not found", None),
    ("empty_file", "tx.csv", "", [], 2, "the file is empty", None),
    ("header_only", "tx.csv", "customer_id,timestamp,amount\n", [], 2, "no data rows", None),
    ("unknown_extension", "tx.xlsx", GOOD, [], 2, "unknown file extension", None),
    ("corrupt_parquet", "tx.parquet", "this is not parquet", [], 2, "cannot read the file as PARQUET", None),
    (
        "non_utf8",
        "tx.csv",
        ("customer_id,timestamp,amount,note\n1,2024-01-01,3,caf\xe9\n").encode("latin-1"),
        [],
        2,
        "every line is malformed (1 not UTF-8 text)",  # its one line is set aside (tests/data/test_malformed.py)
        ["not UTF-8 text"],
    ),
    (
        "bad_timestamp",
        "tx.csv",
        GOOD + "009,31/31/2024,5,A3\n",
        [],
        0,
        "1 unparseable timestamp",
        ["unparseable timestamp"],
    ),
    (
        "missing_timestamp",
        "tx.csv",
        GOOD + "009,,5,A3\n",
        [],
        0,
        "1 missing timestamp",
        ["missing timestamp"],
    ),
    (
        "missing_customer_id",
        "tx.csv",
        GOOD + ",2024-01-07,5,A3\n",
        [],
        0,
        "1 missing customer_id",
        ["missing customer_id"],
    ),
    (
        "non_numeric_amount",
        "tx.csv",
        GOOD + "009,2024-01-07,12,50 EUR\n".replace("12,50 EUR", "twelve,A3"),
        [],
        0,
        "1 non-numeric amount",
        ["non-numeric amount"],
    ),
    (
        "missing_amount",
        "tx.csv",
        GOOD + "009,2024-01-07,,A3\n",
        [],
        0,
        "1 missing amount",
        ["missing amount"],
    ),
    ("negative_amount_is_return", "tx.csv", GOOD + "007,2024-01-09,-10.5,A1R\n", [], 0, "1 returns", None),
    (
        "exact_duplicates",
        "tx.csv",
        GOOD + "007,2024-01-05 10:00:00,10.5,A1\n",
        [],
        0,
        "1 exact duplicates dropped",
        None,
    ),
    (
        "several_reasons",
        "tx.csv",
        GOOD + ",2024-01-07,5,A3\n010,never,5,A4\n011,2024-01-07,x,A5\n",
        [],
        0,
        "3 rows set aside",
        ["missing customer_id", "unparseable timestamp", "non-numeric amount"],
    ),
    (
        "bad_as_of",
        "tx.csv",
        GOOD,
        ["--as-of", "2024-13-45"],
        2,
        "invalid value for --as-of: expected a date like 2024-01-31, got '2024-13-45'",
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "extra", "code", "message", "reasons"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_input(cli, tmp_path, name, content, extra, code, message, reasons):
    path = tmp_path / name
    if content is not None:
        write(path, content)
    out = tmp_path / "rejected"
    result = cli("validate", "--transactions", path, "--rejected-dir", out, *extra)
    text = result.stdout + result.stderr
    assert result.exit_code == code, text
    assert message in text
    assert "Traceback" not in text
    if code == 2:
        assert result.stderr.startswith("Error: ")
        assert len(result.stderr.strip().splitlines()) == 1
        assert str(path.name) in result.stderr or "as-of" in result.stderr
    if reasons is None:
        assert not (out / "transactions_rejected.csv").exists()
    else:
        rows = rejected_rows(out)
        assert [r["reason"] for r in rows] == reasons
        # the rejected rows keep their original values, so nothing is lost
        original = path.read_text(errors="replace").splitlines()
        for r in rows:
            if r.get("raw_line"):  # a malformed line keeps its text instead (tests/data/test_malformed.py)
                continue
            line = original[int(r["source_row"])]
            assert line == ",".join(r[c] for c in ("customer_id", "timestamp", "amount", "order_id"))


def test_unknown_config_key(cli, tmp_path):
    cfg = write(tmp_path / "c.yaml", "horizon_dayz: 30\n")
    tx = write(tmp_path / "tx.csv", GOOD)
    result = cli("validate", "--transactions", tx, "--config", cfg)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {cfg}: unknown key 'horizon_dayz'"


def test_wrong_config_type(cli, tmp_path):
    cfg = write(tmp_path / "c.yaml", "horizon_days: ninety\n")
    tx = write(tmp_path / "tx.csv", GOOD)
    result = cli("validate", "--transactions", tx, "--config", cfg)
    assert result.exit_code == 2
    assert "invalid value for 'horizon_days'" in result.stderr
    assert "Traceback" not in result.stderr


def test_nested_unknown_key_is_named(tmp_path):
    cfg = write(tmp_path / "c.yaml", "models:\n  btyd: bgnbd\n  penaliser: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown key .models\.penaliser."):
        load_config(cfg)


def test_mixed_time_zone_offsets_become_utc(tmp_path):
    tx = write(
        tmp_path / "tx.csv",
        "customer_id,timestamp,amount\n"
        "1,2024-03-01T10:00:00+02:00,1\n"
        "2,2024-03-01T10:00:00-05:00,1\n"
        "3,2024-03-01T10:00:00Z,1\n"
        "4,2024-03-01,1\n",
    )
    frame = load_shop(tx).frame("transactions").set_index("customer_id")["timestamp"]
    assert frame.to_dict() == {
        "1": pd.Timestamp("2024-03-01 08:00:00"),
        "2": pd.Timestamp("2024-03-01 15:00:00"),
        "3": pd.Timestamp("2024-03-01 10:00:00"),
        "4": pd.Timestamp("2024-03-01 00:00:00"),
    }


def test_naive_timestamps_read_in_configured_zone(tmp_path):
    tx = write(tmp_path / "tx.csv", "customer_id,timestamp,amount\n1,2024-07-01 12:00:00,1\n")
    cfg = load_config(None, **{"inputs.transactions.timezone": "Europe/Berlin"})
    ts = load_shop(tx, inputs=cfg.inputs).frame("transactions")["timestamp"].iloc[0]
    assert ts == pd.Timestamp("2024-07-01 10:00:00")


def test_leading_zero_ids_are_kept(tmp_path):
    tx = write(tmp_path / "tx.csv", "customer_id,timestamp,amount\n00042,2024-01-01,1\n042,2024-01-02,2\n")
    ids = sorted(load_shop(tx).frame("transactions")["customer_id"])
    assert ids == ["00042", "042"]


def test_order_lines_with_unit_price_and_cancel_prefix(tmp_path):
    tx = write(
        tmp_path / "lines.csv",
        "Invoice,Customer ID,InvoiceDate,Quantity,Price\n"
        "536365,17850,2010-12-01 08:26:00,6,2.55\n"
        "536365,17850,2010-12-01 08:26:00,8,3.39\n"
        "C536379,17850,2010-12-02 09:41:00,-1,2.55\n",
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
    data = load_shop(tx, inputs=cfg.inputs)
    frame = data.frame("transactions")
    assert frame["order_id"].nunique() == 2
    assert frame["amount"].round(2).tolist() == [15.3, 27.12, -2.55]
    assert frame["is_return"].tolist() == [False, False, True]
    assert data.report.tables["transactions"].returns == 1


def test_unknown_event_types_count_as_page_views(tmp_path):
    tx = write(tmp_path / "tx.csv", GOOD)
    ev = write(
        tmp_path / "ev.csv",
        "customer_id,timestamp,event_type\n007,2024-01-01,Product_View\n007,2024-01-01 00:01,wishlist\n"
        "007,2024-01-01 00:02,\n",
    )
    data = load_shop(tx, ev, rejected_dir=tmp_path)
    events = data.frame("events")
    assert events["event_type"].tolist() == ["product_view", "page_view"]
    assert data.report.tables["events"].unknown_event_types == 1
    assert [r["reason"] for r in rejected_rows(tmp_path, "events")] == ["missing event_type"]


def test_duplicate_customer_rows_are_set_aside(tmp_path):
    tx = write(tmp_path / "tx.csv", GOOD)
    cu = write(tmp_path / "cu.csv", "customer_id,signup_date,country\n007,2023-01-01,DE\n007,2023-02-01,FR\n")
    data = load_shop(tx, customers=cu, rejected_dir=tmp_path)
    assert data.frame("customers")["country"].tolist() == ["DE"]
    assert [r["reason"] for r in rejected_rows(tmp_path, "customers")] == ["duplicate customer_id"]


def test_no_transactions_given_is_a_usage_error(cli):
    result = cli("validate")
    assert result.exit_code == 2
    assert "no transactions file given" in result.stderr


def test_frames_are_validated_like_files():
    frame = pd.DataFrame(
        {"customer_id": ["1", None], "timestamp": ["2024-01-01", "2024-01-02"], "amount": [1, 2]}
    )
    data = load_shop(frame)
    assert data.report.tables["transactions"].rejected == {"missing customer_id": 1}
    with pytest.raises(InputError, match="required column 'amount'"):
        load_shop(frame.drop(columns="amount"))


def test_encodings_duckdb_cannot_read_are_transcoded(tmp_path):
    """cp1252 (Excel's Western export) is read through Python; the rejected file keeps the text."""
    path = tmp_path / "tx.csv"
    path.write_bytes(
        "customer_id,timestamp,amount,note\n1,2024-01-01,3,café €\n2,oops,4,naïve\n".encode("cp1252")
    )
    cfg = load_config(None, **{"inputs.transactions.encoding": "cp1252"})
    data = load_shop(path, inputs=cfg.inputs, rejected_dir=tmp_path)
    assert data.report.tables["transactions"].rows_loaded == 1
    assert [r["note"] for r in rejected_rows(tmp_path, "transactions")] == ["naïve"]
    with pytest.raises(ConfigError, match="unknown encoding 'klingon'"):
        load_config(None, **{"inputs.transactions.encoding": "klingon"})
    utf16 = load_config(None, **{"inputs.transactions.encoding": "utf-16"})
    with pytest.raises(InputError, match="not utf-16 text"):
        load_shop(path, inputs=utf16.inputs)


def test_duplicates_are_exact_over_source_columns_and_the_first_copy_stays(tmp_path):
    """Rows equal in every source column go (valid or not); rows differing in any column, even a blank, stay."""
    body = (
        "customer_id,timestamp,amount,order_id\n"
        "1,2024-01-01,3,A\n"
        "1,2024-01-01,3,A\n"  # exact copy: dropped
        "1,2024-01-01,3,\n"  # differs by a blank order id: kept
        "1,2024-01-01,3,B\n"
        "2,bad,3,C\n"
        "2,bad,3,C\n"  # an exact copy of a rejected row: dropped, rejected once
        "1,2024-01-01,3,A\n"  # a third copy
    )
    data = load_shop(write(tmp_path / "tx.csv", body), rejected_dir=tmp_path)
    report = data.report.tables["transactions"]
    assert report.duplicates_dropped == 3
    assert report.rows_loaded == 3
    assert report.rejected == {"unparseable timestamp": 1}
    assert [r["source_row"] for r in rejected_rows(tmp_path, "transactions")] == ["5"]
    assert data.frame("transactions")["order_id"].tolist() == ["A", "row-3", "B"]


def test_the_engine_has_a_memory_limit_and_its_own_spill_folder(tmp_path):
    """A new connection gets duckdb.memory_limit (default 3GB, not DuckDB's 80 % of RAM) and a spill folder that
    is removed with the connection."""
    import gc

    from churnkit.data.load import spill_directory

    tx = write(tmp_path / "tx.csv", GOOD)
    data = load_shop(tx)
    limit, folder = data.con.sql(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchall()[0]
    assert limit == "2.7 GiB"  # 3GB = 3e9 bytes, shown by DuckDB in GiB
    assert Path(folder).is_dir() and Path(folder).name.startswith("churnkit-duckdb-")
    data.con.close()
    del data
    gc.collect()
    assert not Path(folder).exists()

    cfg = load_config(
        None, **{"duckdb.memory_limit": "512MB", "duckdb.temp_directory": str(tmp_path / "spill")}
    )
    data = load_shop(tx, duckdb_config=cfg.duckdb)
    assert data.con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0] == "488.2 MiB"
    folder = Path(spill_directory(data.con))
    assert folder.parent == tmp_path / "spill"
    # a query larger than the limit spills there instead of failing or growing
    big = data.con.sql(
        "SELECT count(DISTINCT i), sum(length(s)) FROM (SELECT i, repeat('x', 200) || i AS s FROM range(3000000) t(i) "
        "ORDER BY s DESC)"
    ).fetchall()[0]
    assert big[0] == 3_000_000
    with pytest.raises(ConfigError, match="memory_limit"):
        load_config(None, **{"duckdb.memory_limit": "lots"})


_HOLD_A_CONNECTION = """
import sys, time
from churnkit.config import DuckDBConfig
from churnkit.data.load import engine_connection, spill_directory
con = engine_connection(DuckDBConfig(temp_directory=sys.argv[1]))
print(spill_directory(con), flush=True)
time.sleep(600)
"""


def _process_holding_a_connection(spill: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_CONNECTION, str(spill)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_a_spill_folder_a_killed_process_left_goes_with_the_next_connection(tmp_path):
    """SIGKILL runs no clean-up: the folder stays until the next connection finds its lock free. A running
    process's folder (its lock held) and a folder without a lock file (an older version's) are kept."""
    from churnkit.config import DuckDBConfig
    from churnkit.data.load import engine_connection, spill_directory

    spill = tmp_path / "spill"
    killed, left = _process_holding_a_connection(spill)
    running, in_use = _process_holding_a_connection(spill)
    try:
        killed.kill()
        killed.wait(timeout=30)
        assert left.is_dir() and in_use.is_dir()
        unlocked = spill / "churnkit-duckdb-older"
        unlocked.mkdir()
        con = engine_connection(DuckDBConfig(temp_directory=str(spill)))
        assert not left.exists()
        assert in_use.is_dir() and unlocked.is_dir()
        assert Path(spill_directory(con)).is_dir()
        assert sorted(p.name for p in spill.iterdir()) == sorted(
            [in_use.name, unlocked.name, Path(spill_directory(con)).name]
        )
    finally:
        for proc in (killed, running):
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def engine_limits(monkeypatch):
    """The memory_limit of every connection `load_shop` makes during the test, in order."""
    import churnkit.data.load as load

    seen: list[str] = []
    real = load.load_shop

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        data = real(*args, **kwargs)
        seen.append(data.con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0])
        return data

    monkeypatch.setattr(load, "load_shop", spy)
    return seen


def test_the_cli_passes_the_memory_limit_to_the_engine(cli, tmp_path, engine_limits):
    cfg = write(tmp_path / "c.yaml", "duckdb:\n  memory_limit: 1GB\n")
    result = cli("validate", "--transactions", write(tmp_path / "tx.csv", GOOD), "--config", cfg)
    assert result.exit_code == 0, result.stderr
    assert engine_limits == ["953.6 MiB"]


def test_the_memory_limit_flag_overrides_the_config(cli, tmp_path, engine_limits):
    cfg = write(tmp_path / "c.yaml", "duckdb:\n  memory_limit: 1GB\n")
    tx = write(tmp_path / "tx.csv", GOOD)
    result = cli("validate", "--transactions", tx, "--config", cfg, "--memory-limit", "512MB")
    assert result.exit_code == 0, result.stderr
    assert engine_limits == ["488.2 MiB"]
    bad = cli("validate", "--transactions", tx, "--memory-limit", "lots")
    assert bad.exit_code == 2
    assert "memory_limit" in bad.stderr and "lots" in bad.stderr
    assert "Traceback" not in bad.stderr
