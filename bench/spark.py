"""Every feature on Spark (local mode) vs DuckDB, same Parquet files; results go to bench/results/spark.md.

    .venv/bin/python bench/spark.py                    # 10M transactions + 30M events (bench/features.py data)
    .venv/bin/python bench/spark.py --no-events        # 10M transactions only
    .venv/bin/python bench/spark.py --keep             # reuse the Parquet files already in --data-dir
    .venv/bin/python bench/spark.py --validate         # the loaders (validation) on those files instead

The data is the synthetic shop of ``bench/features.py --scale`` (same generator, same seed, same folder by
default, so ``--keep`` reuses its files). Each engine runs in a fresh process: churnkit's ``build_features``
(one Ibis expression) from the Parquet files to a Parquet result, no validation step on either side. DuckDB
uses 2 threads and 3 GB; Spark runs ``local[2]`` with the settings below. The two results are then compared
column by column over every customer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import features as feature_bench  # the generator and helpers of bench/features.py

RESULTS = Path(__file__).parent / "results" / "spark.md"
AS_OF = feature_bench.AS_OF
SPARK_CONF = {
    "spark.sql.shuffle.partitions": "16",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "6g",
}


# ---------------------------------------------------------------------------------------------------
# measured steps (each run in a fresh process by --step)
# ---------------------------------------------------------------------------------------------------
def step_duckdb(data_dir: Path, out: Path, events: bool) -> dict:
    from churnkit.features import build_features

    t0 = time.perf_counter()
    con = feature_bench._duckdb()
    tx = con.read_parquet(data_dir / "transactions.parquet")
    ev = con.read_parquet(data_dir / "events.parquet") if events else None
    t1 = time.perf_counter()
    expr = build_features(tx, ev, as_of=AS_OF)
    expr.to_parquet(out)
    t2 = time.perf_counter()
    return {"start_s": t1 - t0, "features_s": t2 - t1, "columns": len(expr.columns)}


def step_spark(data_dir: Path, out: Path, events: bool) -> dict:
    from churnkit.engines.spark import spark_session
    from churnkit.engines.spark_scoring import to_spark
    from churnkit.features import build_features

    t0 = time.perf_counter()
    spark = spark_session(
        "local[2]",
        {
            **SPARK_CONF,
            "spark.local.dir": str(data_dir / "spark-tmp"),
            "spark.sql.warehouse.dir": str(data_dir / "spark-warehouse"),
        },
    )
    spark.sparkContext.setLogLevel("ERROR")
    import ibis

    con = ibis.pyspark.connect(spark)
    t1 = time.perf_counter()
    spark.read.parquet(str(data_dir / "transactions.parquet")).createOrReplaceTempView("transactions")
    tx = con.table("transactions")
    ev = None
    if events:
        spark.read.parquet(str(data_dir / "events.parquet")).createOrReplaceTempView("events")
        ev = con.table("events")
    expr = build_features(tx, ev, as_of=AS_OF)
    to_spark(expr).write.mode("overwrite").parquet(str(out))
    t2 = time.perf_counter()
    spark.stop()
    return {"start_s": t1 - t0, "features_s": t2 - t1, "columns": len(expr.columns)}


def step_duckdb_load(data_dir: Path, out: Path, events: bool) -> dict:
    from churnkit.data.load import load_shop

    t0 = time.perf_counter()
    data = load_shop(data_dir / "transactions.parquet", data_dir / "events.parquet" if events else None)
    t1 = time.perf_counter()
    return {"start_s": 0.0, "load_s": t1 - t0, "report": data.report.lines()}


def step_spark_load(data_dir: Path, out: Path, events: bool) -> dict:
    from churnkit.engines.spark import load_shop_spark, spark_session

    t0 = time.perf_counter()
    spark = spark_session(
        "local[2]",
        {
            **SPARK_CONF,
            "spark.local.dir": str(data_dir / "spark-tmp"),
            "spark.sql.warehouse.dir": str(data_dir / "spark-warehouse"),
        },
    )
    spark.sparkContext.setLogLevel("ERROR")
    t1 = time.perf_counter()
    data = load_shop_spark(
        data_dir / "transactions.parquet", data_dir / "events.parquet" if events else None, spark=spark
    )
    t2 = time.perf_counter()
    spark.stop()
    return {"start_s": t1 - t0, "load_s": t2 - t1, "report": data.report.lines()}


STEPS = {
    "duckdb": step_duckdb,
    "spark": step_spark,
    "duckdb-load": step_duckdb_load,
    "spark-load": step_spark_load,
}


def validation(data_dir: Path, events: bool) -> str:
    """The loaders (map, dedup, parse, quarantine, count) on the same Parquet files: DuckDB vs Spark."""
    files = ["transactions.parquet", *(["events.parquet"] if events else [])]
    if not all((data_dir / f).exists() for f in files):
        raise SystemExit(f"no data in {data_dir}: run bench/spark.py (or bench/features.py --scale) first")
    duck = run_step("duckdb-load", data_dir, data_dir / "unused", events)
    spark = run_step("spark-load", data_dir, data_dir / "unused", events)
    same = duck["report"] == spark["report"]
    return "\n".join(
        [
            f"`load_shop` (DuckDB, in memory) vs `load_shop_spark` (Spark `local[2]`, same settings as above) on "
            f"{' and '.join(files)} from `{data_dir}`: read, map, drop exact duplicates (over all columns), parse, "
            "set bad rows aside, count; Spark persists the validated tables.",
            "",
            "| engine | start-up s | load + validate s | process wall s |",
            "|---|---|---|---|",
            f"| DuckDB | – | {duck['load_s']:.1f} | {duck['process_s']:.1f} |",
            f"| Spark local[2] | {spark['start_s']:.1f} | {spark['load_s']:.1f} | {spark['process_s']:.1f} |",
            "",
            f"**Spark / DuckDB, load + validate: {spark['load_s'] / duck['load_s']:.1f}×.** "
            f"Reports {'identical' if same else 'DIFFERENT'}:",
            "",
            *[f"- {line}" for line in duck["report"]],
        ]
    )


def run_step(name: str, data_dir: Path, out: Path, events: bool) -> dict:
    cmd = [sys.executable, __file__, "--step", name, "--data-dir", str(data_dir), "--out", str(out)]
    if not events:
        cmd.append("--no-events")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"step {name} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def agreement(duck: Path, spark: Path) -> dict:
    """Customers on each side and the largest |difference| of every feature (nulls must match)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2; SET memory_limit = '3GB'")
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{duck}')").fetchall()]
    feats = [c for c in cols if c not in ("customer_id", "as_of")]
    a, b = f"read_parquet('{duck}')", f"read_parquet('{spark}/*.parquet')"
    exprs = []
    for c in feats:
        q = f'"{c}"'
        exprs.append(f"max(abs(CAST(x.{q} AS DOUBLE) - CAST(y.{q} AS DOUBLE)))")
        exprs.append(f"sum(CASE WHEN (x.{q} IS NULL) <> (y.{q} IS NULL) THEN 1 ELSE 0 END)")
    row = con.execute(
        f"SELECT count(*), count(x.customer_id), count(y.customer_id), {', '.join(exprs)} "
        f"FROM {a} x FULL JOIN {b} y USING (customer_id)"
    ).fetchall()[0]
    diffs = dict(zip(feats, row[3::2], strict=True))
    null_mismatch = sum(row[4::2])
    worst = max(diffs, key=lambda k: diffs[k] or 0.0)
    return {
        "customers": row[0],
        "duckdb_rows": row[1],
        "spark_rows": row[2],
        "max_diff": diffs[worst] or 0.0,
        "worst": worst,
        "null_mismatch": null_mismatch,
    }


# ---------------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------------
def bench(data_dir: Path, n_transactions: int, n_events: int, events: bool, keep: bool) -> str:
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    files = ["transactions.parquet", *(["events.parquet"] if events else [])]
    reuse = keep and all((data_dir / f).exists() for f in files)
    if not reuse:
        data_dir.mkdir(parents=True, exist_ok=True)
        feature_bench.generate(data_dir, n_transactions, n_events if events else 1)
    t_gen = time.perf_counter() - t0
    rows = {f: pq.ParquetFile(data_dir / f).metadata.num_rows for f in files}
    sizes = {f: (data_dir / f).stat().st_size / 2**20 for f in files}
    duck_out, spark_out = data_dir / "features_duckdb.parquet", data_dir / "features_spark.parquet"
    shutil.rmtree(spark_out, ignore_errors=True)
    duck = run_step("duckdb", data_dir, duck_out, events)
    spark = run_step("spark", data_dir, spark_out, events)
    check = agreement(duck_out, spark_out)
    ratio = spark["features_s"] / duck["features_s"]
    data = (
        f"{rows['transactions.parquet']:,} transaction rows ({sizes['transactions.parquet']:.0f} MiB Parquet)"
    )
    if events:
        data += f", {rows['events.parquet']:,} events ({sizes['events.parquet']:.0f} MiB Parquet, 30-minute gap sessions)"
    else:
        data += ", no events (transaction features only)"
    conf = ", ".join(f"`{k}={v}`" for k, v in SPARK_CONF.items())
    return "\n".join(
        [
            f"Data: {data}; {'reused from an earlier run' if reuse else f'generated in {t_gen:.0f} s'}. "
            f"as_of {AS_OF}. Each engine in a fresh process; features from the Parquet files to a Parquet "
            "result (no loading/validation step on either side).",
            "",
            f"DuckDB: 2 threads, memory_limit 3GB. Spark: `local[2]`, {conf}.",
            "",
            "| engine | start-up s | features → Parquet s | process wall s | columns |",
            "|---|---|---|---|---|",
            f"| DuckDB | {duck['start_s']:.1f} | {duck['features_s']:.1f} | {duck['process_s']:.1f} | {duck['columns']} |",
            f"| Spark local[2] | {spark['start_s']:.1f} | {spark['features_s']:.1f} | {spark['process_s']:.1f} | {spark['columns']} |",
            "",
            f"**Spark / DuckDB, features: {ratio:.1f}×** (process wall time: "
            f"{spark['process_s'] / duck['process_s']:.1f}×).",
            "",
            f"Agreement over {check['customers']:,} customers (DuckDB {check['duckdb_rows']:,} rows, Spark "
            f"{check['spark_rows']:,}): largest |difference| of any feature {check['max_diff']:.1e} "
            f"(`{check['worst']}`), {check['null_mismatch']} null mismatches.",
        ]
    )


def machine() -> str:
    import pyspark

    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr
    first = java.splitlines()[0] if java else "java not found"
    return f"{feature_bench.machine()}, pyspark {pyspark.__version__}, {first}"


def write_section(key: str, title: str, command: str, body: str) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    text = RESULTS.read_text() if RESULTS.exists() else "# Spark benchmarks\n\nWritten by `bench/spark.py`.\n"
    section = (
        f"<!-- {key} -->\n## {title}\n\n"
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: `{command}`\n\n"
        f"Machine: {machine()}; load average at the end {os.getloadavg()[0]:.1f} "
        "(the machine is shared, timings are noisy)\n\n"
        f"{body}\n<!-- /{key} -->"
    )
    pattern = re.compile(rf"<!-- {key} -->.*?<!-- /{key} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    RESULTS.write_text(text.rstrip() + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--events", type=int, default=30_000_000)
    parser.add_argument("--no-events", action="store_true", help="transactions only")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "churnkit-bench-features"
    )
    parser.add_argument("--keep", action="store_true", help="reuse existing Parquet files in --data-dir")
    parser.add_argument("--no-write", action="store_true", help="print only, leave the results file alone")
    parser.add_argument(
        "--validate", action="store_true", help="time the loaders (validation) instead of the features"
    )
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    events = not args.no_events
    if args.step:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        sys.stdout.write(json.dumps(STEPS[args.step](args.data_dir, args.out, events)) + "\n")
        return
    command = " ".join(["python bench/spark.py", *sys.argv[1:]])
    if args.validate:
        body = validation(args.data_dir, events)
        key, title = "validate", "Loading and validation: Spark local[2] vs DuckDB"
    else:
        body = bench(args.data_dir, args.transactions, args.events, events, args.keep)
        key, title = "features", "Every feature: Spark local[2] vs DuckDB"
    if not events:
        key, title = f"{key}-no-events", f"{title} (transactions only)"
    sys.stdout.write(body + "\n")
    if not args.no_write:
        write_section(key, title, command, body)


if __name__ == "__main__":
    main()
