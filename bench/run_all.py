"""Run every benchmark, each as a subprocess, and rewrite bench/RESULTS.md from this one run.

    .venv/bin/python bench/run_all.py            # everything (what `make bench` runs; about 30-40 minutes)
    .venv/bin/python bench/run_all.py --quick    # skip features --scale, Pareto/NBD and Spark validation
    .venv/bin/python bench/run_all.py --only btyd,scoring

Each benchmark writes its own markdown into bench/results/; RESULTS.md gathers the parts produced by this run
under a header with the machine, the package versions, the date, the exact commands and a summary table of
the headline numbers against their targets. bench/spark.py runs only if it exists (another engineer's). A failing benchmark is
reported in RESULTS.md (with the end of its output) and makes this script exit 1; the others still run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from _machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS_DIR = BENCH / "results"
RESULTS = BENCH / "RESULTS.md"
PACKAGES = (
    "churnkit",
    "duckdb",
    "ibis-framework",
    "pandas",
    "numpy",
    "pyarrow",
    "lifetimes",
    "lightgbm",
    "scikit-learn",
    "mlflow",
    "pyspark",
)


@dataclasses.dataclass
class Bench:
    name: str
    args: list[str]
    result_file: str  # under bench/results/
    section: str | None = None  # only this <!-- key --> section of the result file belongs to this run
    timeout: int = 3600
    # filled in by run()
    code: int | None = None
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    started: dt.datetime | None = None
    load_before: float = 0.0
    load_after: float = 0.0
    skipped: str = ""

    @property
    def script(self) -> str:
        return self.args[0]

    def command(self) -> str:
        return ".venv/bin/python " + " ".join(shlex.quote(a) for a in self.args)


def plan(quick: bool) -> list[Bench]:
    benches = [
        Bench("features", ["bench/features.py", "--transactions", "1000000"], "features.md", section="rfm"),
    ]
    if not quick:
        benches.append(Bench("commands", ["bench/commands.py"], "commands.md"))
        benches.append(
            Bench("features-scale", ["bench/features.py", "--scale"], "features.md", section="scale")
        )
    models = "bgnbd,mbgnbd" if quick else "bgnbd,mbgnbd,pareto"
    benches += [
        Bench(
            "btyd",
            ["bench/btyd.py", "--customers", "1000000", "--models", models, "--repeat", "3"],
            "btyd.md",
        ),
        Bench("scoring", ["bench/scoring.py", "--customers", "1000000"], "scoring.md"),
        # --keep: reuse the Parquet files that features --scale has just written (same generator and folder)
        Bench("spark", ["bench/spark.py", "--keep"], "spark.md", section="features"),
    ]
    if not quick:
        benches.append(
            Bench(
                "spark-validate", ["bench/spark.py", "--validate", "--keep"], "spark.md", section="validate"
            )
        )
    return benches


# ------------------------------------------------------------------------------------------------ running


def run(bench: Bench, log_dir: Path) -> None:
    if not (ROOT / bench.script).exists():
        bench.skipped = f"{bench.script} is not present"
        return
    sys.stderr.write(f"[run_all] {bench.command()}\n")
    bench.load_before = os.getloadavg()[0]
    bench.started = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, *bench.args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=bench.timeout,
        )
        bench.code, bench.stdout, bench.stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as e:
        bench.code = -1
        bench.stdout = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        bench.stderr = f"timed out after {bench.timeout} s"
    bench.seconds = time.perf_counter() - started
    bench.load_after = os.getloadavg()[0]
    (log_dir / f"{bench.name}.out").write_text(bench.stdout)
    (log_dir / f"{bench.name}.err").write_text(bench.stderr)
    sys.stderr.write(f"[run_all] {bench.name}: exit {bench.code} in {bench.seconds:.0f} s\n")


RUN_STAMP = re.compile(r"Run (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC")


def result_text(bench: Bench) -> str | None:
    """This run's markdown of a benchmark, or None.

    Result files made of ``<!-- key -->`` sections (features.md, spark.md) keep sections from earlier runs;
    only ``bench.section`` is taken, and only if its "Run <date> UTC" stamp is not older than this run.
    """
    path = RESULTS_DIR / bench.result_file
    if not path.exists():
        return None
    text = path.read_text()
    if not bench.section:
        return text.strip()
    match = re.search(rf"<!-- {bench.section} -->\n(.*?)\n<!-- /{bench.section} -->", text, re.S)
    if not match:
        return None
    body = match.group(1).strip()
    stamp = RUN_STAMP.search(body)
    if stamp and bench.started is not None:
        written = dt.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
        if written < bench.started.replace(second=0, microsecond=0):
            return None  # left from an earlier run
    return body


def demote(markdown: str, top: int = 3) -> str:
    """Shift every heading so the highest one becomes level ``top`` (results nest under RESULTS.md's sections)."""
    levels = [len(m.group(1)) for m in re.finditer(r"(?m)^(#{1,6}) ", markdown)]
    if not levels:
        return markdown
    shift = top - min(levels)
    return re.sub(r"(?m)^(#{1,6}) ", lambda m: "#" * min(max(len(m.group(1)) + shift, 1), 6) + " ", markdown)


# ------------------------------------------------------------------------------------------------ summary


def _num(pattern: str, text: str | None, group: int = 1) -> float | None:
    if not text:
        return None
    m = re.search(pattern, text)
    return float(m.group(group).replace(",", "")) if m else None


def summary_rows(benches: dict[str, Bench]) -> list[str]:
    """One row per headline number: what, measured, target, verdict."""
    rows = []

    def row(what: str, value: str, target: str, ok: bool | None) -> None:
        verdict = "—" if ok is None else ("met" if ok else "**not met**")
        rows.append(f"| {what} | {value} | {target} | {verdict} |")

    def missing(bench: Bench | None, what: str, target: str) -> None:
        if bench is None:
            return
        state = bench.skipped or (f"FAILED (exit {bench.code})" if bench.code else "no result")
        row(what, state, target, None)

    b = benches.get("features")
    text = result_text(b) if b and b.code == 0 else None
    ratio = _num(r"\*\*([\d.]+)×\*\*", text)
    if ratio is not None:
        lifetimes_s = _num(r"\| [\d,]+ \| [\d,]+ \| ([\d.]+) \| ([\d.]+) \|", text)
        ours_s = _num(r"\| [\d,]+ \| [\d,]+ \| ([\d.]+) \| ([\d.]+) \|", text, 2)
        row(
            "lifetimes RFM on 1M transactions: lifetimes / churnkit (DuckDB)",
            f"{ratio:.1f}× ({lifetimes_s:.2f} s vs {ours_s:.3f} s)",
            "≥ 10×",
            ratio >= 10,
        )
    else:
        missing(b, "lifetimes RFM on 1M transactions: lifetimes / churnkit", "≥ 10×")

    b = benches.get("features-scale")
    text = result_text(b) if b and b.code == 0 else None
    wall = _num(r"\| churnkit `build_features`[^|]*\| ([\d.]+) \| (\d+) \|", text)
    if wall is not None:
        rss = _num(r"\| churnkit `build_features`[^|]*\| ([\d.]+) \| (\d+) \|", text, 2)
        floor = _num(r"Ratio to the floor: ([\d.]+)×", text)
        row(
            "every feature, 10M transactions + 30M events from Parquet",
            f"{wall:.1f} s, {rss:,.0f} MiB peak ({floor:.2f}× a hand-written SQL floor)",
            "< 60 s, < 4 GiB",
            wall < 60 and rss < 4096,
        )
    else:
        missing(b, "every feature, 10M transactions + 30M events from Parquet", "< 60 s, < 4 GiB")

    b = benches.get("commands")
    cmds = _last_json(b.stdout) if b and b.code == 0 else None
    if cmds:
        tx = cmds["ratio_lifetimes_over_features_tx"]
        row(
            "`churnkit features -t` on 5M CSV rows vs lifetimes, both as processes",
            f"{tx:.1f}× ({cmds['features_tx']['wall_s']:.1f} s vs {cmds['lifetimes']['wall_s']:.1f} s)",
            "≥ 6×",
            tx >= 6,
        )
        ratio = cmds["ratio_features_all_over_floor"]
        rss = cmds["features_all"]["peak_rss_mib"]
        row(
            "`churnkit features` with 15M events vs a hand-written DuckDB query, both as processes",
            f"{ratio:.2f}× its time ({cmds['features_all']['wall_s']:.1f} s), {rss:,.0f} MiB peak",
            "≤ 2×, < 4 GiB",
            ratio <= 2 and rss < 4096,
        )
    else:
        missing(b, "whole commands (features) vs lifetimes and the raw DuckDB query", "≥ 6×; ≤ 2×, < 4 GiB")

    b = benches.get("btyd")
    text = result_text(b) if b and b.code == 0 else None
    ours = _num(r"\| bgnbd \| ours \(weighted, dedup\) \| ([\d.]+) \|", text)
    if ours is not None:
        plain = _num(r"\| bgnbd \| plain lifetimes \| ([\d.]+) \|", text)
        extra = f" (plain lifetimes {plain:.2f} s, {plain / ours:.1f}×)" if plain else ""
        row("BG/NBD + Gamma-Gamma fit on 1M customers", f"{ours:.2f} s{extra}", "≤ 3 s", ours <= 3)
        pareto = _num(r"\| pareto \| ours \(weighted, dedup\) \| ([\d.]+) \|", text)
        if pareto is not None:
            row("Pareto/NBD + Gamma-Gamma fit on 1M customers", f"{pareto:.2f} s", "—", None)
    else:
        missing(b, "BG/NBD + Gamma-Gamma fit on 1M customers", "≤ 3 s")

    b = benches.get("scoring")
    scoring = _last_json(b.stdout) if b and b.code == 0 else None
    if scoring:
        row(
            f"scoring {scoring['customers_scored']:,} customers end to end (Parquet → scores)",
            f"{scoring['end_to_end_s']:.1f} s, {scoring['peak_rss_mib']:,.0f} MiB peak RSS",
            f"≤ {scoring['target_s']:.0f} s",
            scoring["end_to_end_s"] <= scoring["target_s"],
        )
        if "cli_score_s" in scoring:
            row(
                f"`churnkit score` on the same {scoring['customers_scored']:,} customers, demo-size model",
                f"{scoring['cli_score_s']:.1f} s, {scoring['cli_score_peak_rss_mib']:,.0f} MiB peak RSS",
                f"≤ {scoring['target_s']:.0f} s",
                scoring["cli_score_s"] <= scoring["target_s"],
            )
    else:
        missing(b, "scoring 1M customers end to end", "≤ 60 s")

    for key in ("spark", "spark-validate"):
        b = benches.get(key)
        if b is None:
            continue
        text = result_text(b) if b.code == 0 and not b.skipped else None
        ratios = re.findall(r"\*\*Spark / DuckDB, ([^:*]+): ([\d.]+)×", text or "")
        if ratios:
            for label, ratio in ratios:
                row(
                    f"Spark local[2] / DuckDB: {label}, 10M transactions + 30M events",
                    f"{float(ratio):.1f}×",
                    "—",
                    None,
                )
        else:
            missing(b, f"Spark local[2] / DuckDB (`{b.command()}`)", "—")
    return rows


def _last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


# ------------------------------------------------------------------------------------------------ machine


def _git() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return f"{head}{' + uncommitted changes' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _java() -> str:
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        return (done.stderr or done.stdout).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        return "not found"


def machine_lines() -> list[str]:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"- CPU: {cpu_model()}; nproc {usable} (os.cpu_count {os.cpu_count()})",
        f"- RAM: {ram:.1f} GiB; {platform.system()} {platform.release()} {platform.machine()}",
        f"- Python {platform.python_version()} ({sys.executable.replace(str(ROOT) + '/', '')}); Java: {_java()}",
        "- packages: " + ", ".join(versions),
        f"- churnkit commit: {_git()}",
    ]


# ------------------------------------------------------------------------------------------------ main


def write_results(benches: list[Bench], started: dt.datetime, quick: bool, log_dir: Path) -> str:
    by_name = {b.name: b for b in benches}
    finished = dt.datetime.now(dt.UTC)
    lines = [
        "# churnkit benchmarks",
        "",
        "<!-- Generated by bench/run_all.py (`make bench`); do not edit by hand. -->",
        "",
        f"One run of every benchmark, {started:%Y-%m-%d %H:%M} to {finished:%H:%M} UTC"
        f"{' (--quick: features --scale, Pareto/NBD and Spark validation skipped)' if quick else ''}. The machine is shared, so "
        "timings are noisy; the load average (1 minute) before and after each benchmark is listed below.",
        "",
        "## Machine",
        "",
        *machine_lines(),
        "",
        "## Summary",
        "",
        "| what | measured | target | verdict |",
        "|---|---|---|---|",
        *summary_rows(by_name),
        "",
        "## Commands",
        "",
        "Run from the repository root, in this order, each in its own process:",
        "",
        "| benchmark | command | exit | wall s | load before → after |",
        "|---|---|---:|---:|---|",
    ]
    for b in benches:
        if b.skipped:
            lines.append(f"| {b.name} | `{b.command()}` | skipped: {b.skipped} | | |")
        else:
            lines.append(
                f"| {b.name} | `{b.command()}` | {b.code} | {b.seconds:.0f} | "
                f"{b.load_before:.1f} → {b.load_after:.1f} |"
            )
    lines.append("")
    for b in benches:
        title = {
            "features": "Features: lifetimes RFM vs churnkit on DuckDB (`bench/features.py`)",
            "features-scale": "Features at scale (`bench/features.py --scale`)",
            "btyd": "BTYD fits (`bench/btyd.py`)",
            "commands": "Whole commands, each its own process (`bench/commands.py`)",
            "scoring": "Scoring 1M customers end to end (`bench/scoring.py`)",
            "spark": "Spark engine: every feature (`bench/spark.py`)",
            "spark-validate": "Spark engine: loading and validation (`bench/spark.py --validate`)",
        }.get(b.name, f"`{b.script}`")  # a benchmark without a title still gets its section
        lines += [f"## {title}", ""]
        if b.skipped:
            lines += [f"Skipped: {b.skipped}.", ""]
            continue
        if b.code != 0:
            tail = "\n".join((b.stdout + "\n" + b.stderr).strip().splitlines()[-25:])
            lines += [f"**FAILED** (exit {b.code}). Last lines of its output:", "", "```", tail, "```", ""]
            continue
        text = result_text(b)
        if text is None:
            text = (
                "No result of this run in its results file; its standard output:\n\n```\n"
                + b.stdout.strip()
                + "\n```"
            )
        lines += [demote(text), ""]
    lines.append(f"Raw output of each benchmark of this run: `{log_dir}` (not kept in the repository).")
    RESULTS.write_text("\n".join(lines).rstrip() + "\n")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="skip features --scale, Pareto/NBD, Spark validation"
    )
    parser.add_argument("--only", default="", help="comma list of benchmark names (features, btyd, ...)")
    args = parser.parse_args(argv)
    benches = plan(args.quick)
    if args.only:
        wanted = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = wanted - {b.name for b in benches}
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        benches = [b for b in benches if b.name in wanted]
    started = dt.datetime.now(dt.UTC)
    log_dir = Path(tempfile.mkdtemp(prefix="churnkit-bench-logs-"))
    for bench in benches:
        run(bench, log_dir)
    write_results(benches, started, args.quick, log_dir)
    sys.stderr.write(f"[run_all] wrote {RESULTS.relative_to(ROOT)}\n")
    failed = [b.name for b in benches if not b.skipped and b.code != 0]
    if failed:
        sys.stderr.write(f"[run_all] failed: {', '.join(failed)}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
