"""Whole commands as a user runs them, each its own process, beside the obvious alternatives in the same run.

    .venv/bin/python bench/commands.py                                  # 5M transactions + 15M events, CSV
    .venv/bin/python bench/commands.py --transactions 500000 --events 1500000 --no-write   # a quick look

Every step is a fresh process: its wall time includes imports, loading, validation and writing, and its peak
RSS (the child's ``ru_maxrss`` from ``wait4``) is its own. Steps, on the same CSV files:

- ``churnkit features -t transactions.csv`` (every purchase feature) vs lifetimes'
  ``summary_data_from_transaction_data`` as its own process (``pandas.read_csv`` → RFM → Parquet);
- ``churnkit features -t … -e events.csv`` (every feature) vs one hand-written DuckDB query for lifetimes RFM +
  30-minute sessions (bench/features.py's floor, reading the CSVs) as its own process;
- ``churnkit --help`` and ``churnkit validate -t …`` (start-up and the loader alone).

Writes bench/results/commands.md (unless --no-write) and prints a JSON summary as the last line of stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from features import AS_OF, DUCKDB_SETTINGS, FLOOR_SQL, events_chunk, transaction_chunks, write_parquet
from features import machine as machine_line

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "commands.md"
CHURNKIT = str(Path(sys.executable).with_name("churnkit"))

LIFETIMES = """
import sys, pandas as pd
from lifetimes.utils import summary_data_from_transaction_data
tx = pd.read_csv(sys.argv[1], parse_dates=["timestamp"])
tx = tx[(~tx["is_return"]) & (tx["timestamp"] < sys.argv[2])]
rfm = summary_data_from_transaction_data(tx, "customer_id", "timestamp", monetary_value_col="amount",
    observation_period_end=pd.Timestamp(sys.argv[2]) - pd.Timedelta(days=1), freq="D")
rfm.to_parquet(sys.argv[3])
"""

FLOOR = """
import sys, duckdb
con = duckdb.connect()
con.execute(sys.argv[1])
con.execute(sys.argv[2])
"""


def generate(folder: Path, n_transactions: int, n_events: int, seed: int = 7) -> dict[str, int]:
    """transactions.csv and events.csv from bench/features.py's generator (Parquet first, then DuckDB's CSV writer)."""
    import duckdb

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = {
        "transactions": write_parquet(
            folder / "transactions.parquet", transaction_chunks(rng, n_transactions)
        )
    }
    n_visitors = int(max(n_transactions // 10, 1) * 1.3)
    chunks = (
        events_chunk(rng, min(1_000_000, n_events - f), n_visitors) for f in range(0, n_events, 1_000_000)
    )
    rows["events"] = write_parquet(folder / "events.parquet", chunks)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for name in ("transactions", "events"):
        src, out = folder / f"{name}.parquet", folder / f"{name}.csv"
        con.execute(
            f"COPY (SELECT * EXCLUDE (channel, product_id) FROM '{src}') TO '{out}' "
            "(HEADER, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')"
        )
        src.unlink()
    return rows


def timed(cmd: list[str], scratch: Path) -> dict:
    """Run `cmd` as its own process under GNU time: wall seconds, its own peak RSS in MiB, exit code, stderr tail.

    GNU time is a small process that forks the command, so the peak is the command's alone (a child forked
    straight from this benchmark would start with this process's pages counted in its ru_maxrss).
    """
    stats = scratch / "time.txt"
    t0 = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(stats), *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "peak_rss_mib": int(stats.read_text().split()[-1]) / 1024,
        "code": done.returncode,
        "stderr": done.stderr.decode(errors="replace")[-600:],
    }


def steps(folder: Path, out: Path) -> dict[str, list[str]]:
    tx, ev, d = str(folder / "transactions.csv"), str(folder / "events.csv"), AS_OF.isoformat()
    floor_sql = FLOOR_SQL.format(tx=tx, ev=ev, as_of=d, out=out / "floor.parquet").replace(
        "read_parquet(", "read_csv("
    )
    return {
        "help": [CHURNKIT, "--help"],
        "validate": [CHURNKIT, "validate", "-t", tx, "--as-of", d, "--rejected-dir", str(out / "rejected")],
        "features_tx": [CHURNKIT, "features", "-q", "-t", tx, "--as-of", d, "-o", str(out / "f_tx.parquet")],
        "lifetimes": [sys.executable, "-c", LIFETIMES, tx, d, str(out / "lifetimes.parquet")],
        "features_all": [
            CHURNKIT,
            "features",
            "-q",
            "-t",
            tx,
            "-e",
            ev,
            "--as-of",
            d,
            "-o",
            str(out / "f_all.parquet"),
        ],
        "floor": [sys.executable, "-c", FLOOR, DUCKDB_SETTINGS, floor_sql],
    }


def agreement(out: Path) -> dict:
    """churnkit's RFM against lifetimes' on every customer (largest absolute difference), and the row counts."""
    import duckdb

    con = duckdb.connect()
    row = con.execute(
        f"""SELECT count(*), max(greatest(abs(a.frequency - b.frequency), abs(a.recency - b.recency),
                                 abs(a."T" - b."T"), abs(a.monetary_value - b.monetary_value)))
            FROM '{out / "f_tx.parquet"}' a JOIN '{out / "lifetimes.parquet"}' b USING (customer_id)"""
    ).fetchall()[0]
    n_ours = con.execute(f"SELECT count(*) FROM '{out / 'f_tx.parquet'}'").fetchall()[0][0]
    n_theirs = con.execute(f"SELECT count(*) FROM '{out / 'lifetimes.parquet'}'").fetchall()[0][0]
    return {"joined": row[0], "max_abs_diff": row[1], "churnkit_rows": n_ours, "lifetimes_rows": n_theirs}


def table(r: dict, rows: dict[str, int], agree: dict) -> str:
    def cell(k: str) -> str:
        return f"{r[k]['wall_s']:.1f} | {r[k]['peak_rss_mib']:,.0f}"

    tx_ratio = r["lifetimes"]["wall_s"] / r["features_tx"]["wall_s"]
    all_ratio = r["features_all"]["wall_s"] / r["floor"]["wall_s"]
    return "\n".join(
        [
            f"Data: {rows['transactions']:,} transaction rows and {rows['events']:,} events, CSV; as_of {AS_OF}; "
            f"{agree['churnkit_rows']:,} customers in the base.",
            "",
            "| command (its own process) | wall s | peak RSS MiB |",
            "|---|---|---|",
            f"| `churnkit --help` | {cell('help')} |",
            f"| `churnkit validate -t transactions.csv` | {cell('validate')} |",
            f"| `churnkit features -t transactions.csv` (every purchase feature) | {cell('features_tx')} |",
            f"| lifetimes `summary_data_from_transaction_data` (read_csv → RFM → Parquet) | {cell('lifetimes')} |",
            f"| `churnkit features -t transactions.csv -e events.csv` (every feature) | {cell('features_all')} |",
            f"| hand-written DuckDB query: RFM + 30-minute sessions from the CSVs | {cell('floor')} |",
            "",
            f"**features -t vs lifetimes: {tx_ratio:.1f}× faster** (goal ≥ 6×). "
            f"**features with events vs the raw query: {all_ratio:.2f}× its time** (goal ≤ 2×); "
            f"peak RSS {r['features_all']['peak_rss_mib']:,.0f} MiB (goal < 4096).",
            "",
            f"Agreement: {agree['joined']:,} customers in both RFM tables (lifetimes {agree['lifetimes_rows']:,}); "
            f"largest |difference| in frequency/recency/T/monetary_value {agree['max_abs_diff']:.2g}.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transactions", type=int, default=5_000_000)
    p.add_argument("--events", type=int, default=15_000_000)
    p.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "churnkit-bench-commands")
    p.add_argument("--keep", action="store_true", help="reuse the CSV files already in --data-dir")
    p.add_argument("--no-write", action="store_true", help="print only, leave the results file alone")
    args = p.parse_args(argv)
    folder = args.data_dir
    t0 = time.perf_counter()
    meta = folder / "rows.json"
    if args.keep and meta.exists():
        rows = json.loads(meta.read_text())
    else:
        rows = generate(folder, args.transactions, args.events)
        meta.write_text(json.dumps(rows))
    generated_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="churnkit-bench-out-") as tmp:
        out = Path(tmp)
        results = {}
        for name, cmd in steps(folder, out).items():
            results[name] = timed(cmd, out)
            if results[name]["code"] != 0:
                raise SystemExit(f"{name} failed ({results[name]['code']}): {results[name]['stderr']}")
        agree = agreement(out)
    body = table(results, rows, agree)
    sys.stdout.write(body + "\n")
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            "# Whole commands, each its own process\n\n"
            f"Written by `bench/commands.py`. Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: "
            f"`python bench/commands.py {' '.join(sys.argv[1:])}` (data generated in {generated_s:.0f} s)\n\n"
            f"Machine: {machine_line()}; load average at the end {os.getloadavg()[0]:.1f}\n\n{body}\n"
        )
    summary = {
        k: {"wall_s": round(v["wall_s"], 2), "peak_rss_mib": round(v["peak_rss_mib"])}
        for k, v in results.items()
    }
    summary["ratio_lifetimes_over_features_tx"] = (
        results["lifetimes"]["wall_s"] / results["features_tx"]["wall_s"]
    )
    summary["ratio_features_all_over_floor"] = results["features_all"]["wall_s"] / results["floor"]["wall_s"]
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
