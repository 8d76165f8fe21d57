"""Benchmark: plain lifetimes BG/NBD fit vs churnkit's weighted, deduplicated BTYDModel fit.

    .venv/bin/python bench/btyd.py [--customers 1000000] [--seed 0] [--models bgnbd,mbgnbd,pareto]

Simulates BG/NBD customers in whole days (numpy, seeded), then runs each measurement in a fresh
subprocess so its peak RSS is its own, prints a markdown table and writes it to bench/results/btyd.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from _machine import cpu_model, peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "btyd.md"
TRUE_PARAMS = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.5}  # BG/NBD, α per day
TRUE_SPEND = {"p": 6.0, "q": 3.8, "v": 15.0}  # Gamma-Gamma


def simulate(n: int, seed: int) -> pd.DataFrame:
    """BG/NBD customers acquired over one year, observed at day 365; spends in cents from Gamma-Gamma."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = TRUE_PARAMS.values()
    T = rng.integers(1, 366, n).astype(float)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    purchases_before_dropout = rng.geometric(p)  # dropout right after the k-th repeat purchase
    poisson_count = rng.poisson(lam * T)
    x = np.minimum(poisson_count, purchases_before_dropout)
    # the x-th of poisson_count uniform event times on (0, T] is T × Beta(x, count - x + 1)
    last = T * rng.beta(np.maximum(x, 1), np.maximum(poisson_count - x + 1, 1))
    recency = np.where(x > 0, np.floor(last), 0.0)
    p_s, q_s, v_s = TRUE_SPEND.values()
    nu = rng.gamma(q_s, 1.0 / v_s, n)
    owner = np.repeat(np.arange(n), x)
    amounts = np.maximum(np.round(rng.gamma(p_s, 1.0 / nu[owner]), 2), 0.01)
    total = np.bincount(owner, weights=amounts, minlength=n)
    monetary = np.divide(total, x, out=np.zeros(n), where=x > 0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n).astype(str),
            "frequency": x.astype(float),
            "recency": recency,
            "T": T,
            "monetary_value": monetary,
        }
    )


def run_stage(stage: str, path: str, model: str, repeat: int) -> dict:
    """One measurement in this (fresh) process: best of ``repeat`` runs, peak RSS and parameters."""
    frame = pd.read_parquet(path)
    out: dict = {"stage": stage, "model": model}
    if stage == "load":
        pass
    elif stage == "plain":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import lifetimes

            cls = {"bgnbd": lifetimes.BetaGeoFitter, "mbgnbd": lifetimes.ModifiedBetaGeoFitter}[model]
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                fitter = cls().fit(frame["frequency"], frame["recency"], frame["T"])
                times.append(time.perf_counter() - start)
        out["params"] = {k: float(v) for k, v in fitter.params_.items()}
    elif stage == "ours":
        sys.path.insert(0, str(ROOT / "src"))
        start = time.perf_counter()
        from churnkit.models import btyd

        btyd._lifetimes()  # import lifetimes before timing, as the plain stage does
        out["import_seconds"] = time.perf_counter() - start
        times, predict_times = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            fitted = btyd.BTYDModel(model).fit(frame)
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
            scores = fitted.predict(frame)
            predict_times.append(time.perf_counter() - start)
        out["predict_seconds"] = min(predict_times)
        out["params"] = fitted.params_
        out["spend_params"] = fitted.spend_params_
        info = fitted.fit_info_
        out["n_unique_rows"] = info["n_unique_rows"]
        out["n_spend_unique_rows"] = info["n_spend_unique_rows"]
        out["retries"] = info["retries"]
        out["step_seconds"] = info["seconds"]
        out["mean_p_no_purchase"] = float(scores["p_no_purchase"].mean())
    if stage != "load":
        out["seconds"] = min(times)
        out["all_seconds"] = times
    out["peak_rss_mb"] = peak_rss_mib()
    return out


def _child(stage: str, path: str, model: str, repeat: int = 1) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--stage",
            stage,
            "--data",
            path,
            "--model",
            model,
            "--repeat",
            str(repeat),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _max_rel_diff(a: dict, b: dict) -> float:
    return max(abs(a[k] - b[k]) / abs(b[k]) for k in b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="bgnbd", help="comma list of bgnbd, mbgnbd, pareto")
    parser.add_argument(
        "--repeat", type=int, default=3, help="time each fit this many times, report the best"
    )
    parser.add_argument("--no-plain", action="store_true", help="skip the plain lifetimes fits")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="bgnbd", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        sys.stdout.write(json.dumps(run_stage(args.stage, args.data, args.model, args.repeat)) + "\n")
        return 0

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rfm.parquet")
        start = time.perf_counter()
        frame = simulate(args.customers, args.seed)
        simulate_seconds = time.perf_counter() - start
        frame.to_parquet(path)
        repeat_share = float((frame["frequency"] > 0).mean())
        del frame
        baseline = _child("load", path, "bgnbd")
        rows = []
        for model in models:
            ours = _child("ours", path, model, args.repeat)
            plain = None
            if model != "pareto" and not args.no_plain:
                plain = _child("plain", path, model, args.repeat)
            rows.append((model, plain, ours))

    lines = [
        "# BTYD fit benchmark",
        "",
        f"- command: `.venv/bin/python bench/btyd.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores (nproc), {cpu_model()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        f"- data: {args.customers:,} simulated BG/NBD customers (seed {args.seed}, true r, α/day, a, b = "
        f"{', '.join(f'{v:g}' for v in TRUE_PARAMS.values())}), whole days, {repeat_share:.1%} repeat buyers; "
        f"simulated in {simulate_seconds:.1f} s",
        "- each measurement runs in a fresh process; seconds are the best of "
        f"{args.repeat} runs (all runs listed below); peak RSS is that process's maximum resident set "
        f"(loading the data alone: {baseline['peak_rss_mb']:.0f} MB)",
        "- *ours* = `BTYDModel(model).fit(rfm)`: validation, dedup, weighted transaction fit, Gamma-Gamma on "
        "repeat buyers with positive spend, degenerate-fit checks; *plain* = lifetimes fitter on every row",
        "",
        "| model | fit | seconds | peak RSS MB | rows fitted | parameters | predict all customers s |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for model, plain, ours in rows:
        params = ", ".join(f"{k}={v:.4g}" for k, v in ours["params"].items())
        lines.append(
            f"| {model} | ours (weighted, dedup) | {ours['seconds']:.2f} | {ours['peak_rss_mb']:.0f} | "
            f"{ours['n_unique_rows']:,} (+ {ours['n_spend_unique_rows']:,} spend) | {params} | "
            f"{ours['predict_seconds']:.2f} |"
        )
        if plain:
            plain_params = ", ".join(f"{k}={v:.4g}" for k, v in plain["params"].items())
            lines.append(
                f"| {model} | plain lifetimes | {plain['seconds']:.2f} | {plain['peak_rss_mb']:.0f} | "
                f"{args.customers:,} | {plain_params} | |"
            )
    lines.append("")
    for model, plain, ours in rows:
        runs = ", ".join(f"{t:.2f}" for t in ours["all_seconds"])
        if plain:
            runs += "; plain: " + ", ".join(f"{t:.2f}" for t in plain["all_seconds"])
        lines.append(f"- {model}: all runs (s), ours: {runs}")
        if plain:
            lines.append(
                f"- {model}: plain / ours = {plain['seconds'] / ours['seconds']:.1f}× "
                f"(ours includes Gamma-Gamma and the checks); max relative parameter difference "
                f"{_max_rel_diff(ours['params'], plain['params']):.1e}"
            )
        steps = ", ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in ours["step_seconds"].items())
        lines.append(
            f"- {model}: ours by step (last run): {steps}; importing lifetimes beforehand {ours['import_seconds']:.2f} s; "
            f"retries {ours['retries']}; mean p_no_purchase (90 d) {ours['mean_p_no_purchase']:.4f}"
        )
        lines.append(
            f"- {model}: Gamma-Gamma p, q, v = "
            + ", ".join(f"{v:.4g}" for v in ours["spend_params"].values())
        )
    table = "\n".join(lines) + "\n"
    sys.stdout.write(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
