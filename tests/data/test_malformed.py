"""A malformed CSV line is a bad row, set aside with its row number and reason, never a reason to refuse the file.

Each case goes through ``churnkit validate`` (exit code, the load report, the rejected-rows file) and then
through `load_shop` (the good rows are all kept, in order). Row numbers count data rows: the header is row 0,
so ``source_row`` n is line n + 1 of the file.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from churnkit.data.load import load_shop
from churnkit.errors import InputError

HEADER = b"customer_id,timestamp,amount,order_id\n"
GOOD = [b"001,2024-01-05 10:00:00,10.5,A1\n", b"002,2024-02-06,20,A2\n", b"003,2024-03-07,30,A3\n"]


def body(bad: bytes) -> bytes:
    """The header, one good row, the bad line (data row 2), two more good rows."""
    return HEADER + GOOD[0] + bad + GOOD[1] + GOOD[2]


def rejected(folder: Path, table: str = "transactions") -> list[dict[str, str]]:
    with open(folder / f"{table}_rejected.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# (case id, bad line, reason)
CASES = [
    ("extra_field", b"004,2024-01-09,5,A4,EXTRA\n", "too many fields"),
    ("missing_field", b"004,2024-01-09,5\n", "too few fields"),
    ("unbalanced_quote", b'004,"2024-01-09,5,A4\n', "unbalanced quote"),
    ("quote_inside_a_value", b'004,2024-01-09,"5,A4\n', "unbalanced quote"),
    ("invalid_bytes", b"004,2024-01-09,5,caf\xe9\n", "not UTF-8 text"),
]


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
@pytest.mark.parametrize(("bad", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_malformed_line_is_set_aside_and_the_rest_loads(cli, tmp_path, bad, reason, gz):
    content = body(bad)
    path = tmp_path / ("tx.csv.gz" if gz else "tx.csv")
    path.write_bytes(gzip.compress(content) if gz else content)
    out = tmp_path / "rejected"
    result = cli("validate", "--transactions", path, "--rejected-dir", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"transactions: 3 rows loaded from {path}; 1 rows set aside (1 {reason})" in result.stdout
    rows = rejected(out)
    assert [(r["source_row"], r["reason"]) for r in rows] == [("2", reason)]
    shown = bad.decode("utf-8", "replace").rstrip("\n")
    if reason == "not UTF-8 text":  # DuckDB shows the undecodable byte as '?'
        assert rows[0]["raw_line"] == shown.replace("\ufffd", "?")
    else:
        assert rows[0]["raw_line"] == shown
    assert rows[0]["customer_id"] == rows[0]["amount"] == ""  # no values are guessed from a broken line
    frame = load_shop(path).frame("transactions")
    assert frame["customer_id"].tolist() == ["001", "002", "003"]
    assert frame["order_id"].tolist() == ["A1", "A2", "A3"]


def test_row_numbers_stay_true_after_malformed_lines(tmp_path):
    """A bad value after malformed lines is numbered by its place in the file, not among the good rows."""
    content = (
        HEADER
        + GOOD[0]
        + b"x,2024-01-01,1,B1,extra\n"  # row 2
        + b"y,2024-01-01\n"  # row 3
        + b"004,not a date,5,A4\n"  # row 4: set aside for its value
        + GOOD[1]
        + b'z,"2024-01-01,1,B2\n'  # row 6: an unbalanced quote (the file is then read line by line)
        + b"005,2024-01-01,oops,A5\n"  # row 7
        + GOOD[2]
    )
    path = tmp_path / "tx.csv"
    path.write_bytes(content)
    data = load_shop(path, rejected_dir=tmp_path)
    rows = rejected(tmp_path)
    assert [(r["source_row"], r["reason"]) for r in rows] == [
        ("2", "too many fields"),
        ("3", "too few fields"),
        ("4", "unparseable timestamp"),
        ("6", "unbalanced quote"),
        ("7", "non-numeric amount"),
    ]
    lines = content.decode().splitlines()
    for r in rows:
        if r["raw_line"]:
            assert r["raw_line"] == lines[int(r["source_row"])]
        else:  # a row set aside for a value keeps its values
            assert (
                ",".join(r[c] for c in ("customer_id", "timestamp", "amount", "order_id"))
                == lines[int(r["source_row"])]
            )
    assert data.frame("transactions")["order_id"].tolist() == ["A1", "A2", "A3"]
    report = data.report.tables["transactions"]
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (8, 3, 5)


def test_an_unbalanced_quote_does_not_swallow_the_following_lines(tmp_path):
    """A quote never closed would make a CSV reader take the rest of the file into one value."""
    rows = [f"{i:03d},2024-01-{1 + i % 28:02d},{i},O{i}\n".encode() for i in range(1, 2001)]
    content = HEADER + rows[0] + b'999,"2024-01-02,4,OX\n' + b"".join(rows[1:])
    path = tmp_path / "tx.csv"
    path.write_bytes(content)
    data = load_shop(path)
    assert data.report.tables["transactions"].rows_loaded == 2000
    assert data.report.tables["transactions"].rejected == {"unbalanced quote": 1}


def test_quoted_values_with_delimiters_and_line_breaks_still_load(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_bytes(HEADER + b'001,2024-01-05,10.5,"A,1"\n002,2024-02-06,20,"A\n2"\n003,2024-02-07,"3",A3\n')
    frame = load_shop(path).frame("transactions")
    assert frame["order_id"].tolist() == ["A,1", "A\n2", "A3"]


def test_every_line_malformed_is_one_clear_error_that_names_the_reasons(cli, tmp_path):
    path = tmp_path / "tx.csv"
    path.write_bytes(HEADER + b"1,2,3,4,5\n1,2\n")
    out = tmp_path / "rejected"
    result = cli("validate", "--transactions", path, "--rejected-dir", out)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: no usable rows in the transactions table: every line is")
    assert "1 too few fields, 1 too many fields" in result.stderr
    assert [r["reason"] for r in rejected(out)] == ["too many fields", "too few fields"]


def test_a_wrong_delimiter_never_gives_a_self_contradicting_message(cli, tmp_path):
    """The header is split by the file's own delimiter; a required column is then really missing or found."""
    path = tmp_path / "tx.csv"
    path.write_bytes(b'customer_id;timestamp;amount\n1;2024-01-01;3\n2;"2024-01-02;4\n')
    result = cli("validate", "--transactions", path, "--rejected-dir", tmp_path / "r")
    assert result.exit_code == 0, result.stderr
    assert "1 rows loaded" in result.stdout and "1 unbalanced quote" in result.stdout
    path.write_bytes(b"customer_id,when,amount\n1,2024-01-01,3\n")
    result = cli("validate", "--transactions", path)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: {path}: required column 'timestamp' not found; columns present: customer_id, when, amount. "
        "Map it under inputs.transactions.columns in the config."
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            b"customer_id,timestamp,amount,amount\n",
            "duplicate column names in the transactions header: 'amount' (columns 3, 4)",
        ),
        (
            b"customer_id,Timestamp,timestamp,amount\n",
            "duplicate column names in the transactions header: 'Timestamp' (columns 2, 3)",
        ),
        (b"customer_id,timestamp,amount,\n", "blank column name (column 4 of 4)"),
        (b"customer_id, ,timestamp,amount\n", "blank column name (column 2 of 4)"),
    ],
    ids=["duplicate", "duplicate_ignoring_case", "blank_trailing", "blank_spaces"],
)
@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
def test_duplicate_or_blank_column_names_stop_with_exit_2(cli, tmp_path, header, message, gz):
    content = header + b"1,2024-01-01,3,4\n"
    path = tmp_path / ("tx.csv.gz" if gz else "tx.csv")
    path.write_bytes(gzip.compress(content) if gz else content)
    result = cli("validate", "--transactions", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(InputError, match="column"):
        load_shop(path)


def test_duplicate_names_in_parquet_and_frames_are_named_too(tmp_path):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays(
        [pa.array(["1"]), pa.array(["2024-01-01"]), pa.array([1.0]), pa.array([2.0])],
        names=["customer_id", "timestamp", "amount", "amount"],
    )
    pq.write_table(table, tmp_path / "tx.parquet")
    with pytest.raises(InputError, match=r"duplicate column names .*'amount' \(columns 3, 4\)"):
        load_shop(tmp_path / "tx.parquet")
    frame = pd.DataFrame(
        [["1", "2024-01-01", 1.0, 2.0]], columns=["customer_id", "timestamp", "amount", "amount"]
    )
    with pytest.raises(InputError, match="duplicate column names"):
        load_shop(frame)


def test_other_encodings_still_read(tmp_path):
    """latin-1 is read by DuckDB itself; a UTF-8 file's byte-order mark is no part of the first name."""
    path = tmp_path / "tx.csv"
    path.write_bytes(
        "customer_id,timestamp,amount,note\n1,2024-01-01,3,café\n2,2024-01-01,3,x,y\n".encode("latin-1")
    )
    from churnkit.config import load_config

    cfg = load_config(None, **{"inputs.transactions.encoding": "latin-1"})
    data = load_shop(path, inputs=cfg.inputs)
    assert data.report.tables["transactions"].rejected == {"too many fields": 1}
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + HEADER + GOOD[0])
    assert load_shop(bom).report.tables["transactions"].rows_loaded == 1


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
def test_a_quote_left_open_on_the_last_line_of_a_crlf_file(cli, tmp_path, gz):
    """Windows line ends and a last line with too few fields and an open quote: DuckDB's scanner gives up on
    the whole file ("state machine reached an invalid state"); the file is read line by line instead."""
    good = b"".join(g.replace(b"\n", b"\r\n") for g in GOOD)
    content = HEADER.replace(b"\n", b"\r\n") + good + b'bad line "with quote\n'
    path = tmp_path / ("tx.csv.gz" if gz else "tx.csv")
    path.write_bytes(gzip.compress(content) if gz else content)
    out = tmp_path / "rejected"
    result = cli("validate", "--transactions", path, "--rejected-dir", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"transactions: 3 rows loaded from {path}; 1 rows set aside (1 too few fields)" in result.stdout
    rows = rejected(out)
    assert [(r["source_row"], r["reason"], r["raw_line"]) for r in rows] == [
        ("4", "too few fields", 'bad line "with quote')
    ]
