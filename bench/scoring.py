"""Benchmark: score 1,000,000 customers end to end with a model trained by `churnkit.pipeline.train`.

    .venv/bin/python bench/scoring.py [--customers 1000000] [--train-customers 2000] [--seed 0]
                                      [--data-dir DIR] [--keep]

Three steps, each in a fresh subprocess so its wall time and peak RSS are its own:

1. **train** — `generate_shop(train_customers)` → `ShopData.from_frames` → `pipeline.train` (3 snapshots,
   45 days apart) → the fitted `ChurnkitModel` saved with joblib (as the MLflow model artifact is);
2. **generate** — `generate_shop(customers)` → `write_shop(..., fmt="parquet")`: the big shop's
   transactions, browsing events and customers (not timed against the target: it is the test data);
3. **score** — `load_shop` on the Parquet files → `ChurnkitModel.features` → `ChurnkitModel.score_features`
   → `write_table` (Parquet): what `churnkit score` does, timed phase by phase. Target: ≤ 60 s.

Writes bench/results/scoring.md and prints a JSON summary as the last line of stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scoring.md"
TARGET_SECONDS = 60.0
REASONS_SAMPLE = 20_000
TRAIN_SETTINGS = {"training.n_snapshots": 3, "training.spacing_days": 45}


# ---------------------------------------------------------------------------------------------- steps


def step_train(folder: Path, n_customers: int, seed: int) -> dict:
    import joblib

    from churnkit.config import load_config
    from churnkit.data.load import ShopData
    from churnkit.datasets.sample_shop import generate_shop
    from churnkit.pipeline import train

    start = time.perf_counter()
    shop = generate_shop(n_customers, seed=seed)
    data = ShopData.from_frames(shop.transactions, shop.events, shop.customers)
    generated = time.perf_counter() - start
    result = train(data, load_config(None, **TRAIN_SETTINGS))
    trained = time.perf_counter() - start - generated
    joblib.dump(result.model, folder / "model.joblib")
    return {
        "generate_s": generated,
        "train_s": trained,
        "mode": result.mode,
        "champion": result.backtest.champion,
        "churn_auc": result.backtest.metrics.get("churn_auc"),
        "training_rows": result.summary["training_rows"],
        "features": len(result.model.input_columns_),
        "churn_trees": result.model.churn_.booster_.num_trees() if result.model.churn_ is not None else 0,
    }


def step_generate(folder: Path, n_customers: int, seed: int) -> dict:
    from churnkit.datasets.sample_shop import generate_shop, write_shop

    start = time.perf_counter()
    shop = generate_shop(n_customers, seed=seed)
    generated = time.perf_counter() - start
    rows = {name: len(getattr(shop, name)) for name in ("transactions", "events", "customers")}
    write_shop(shop, folder, fmt="parquet")
    (folder / "truth.parquet").unlink()
    return {
        "generate_s": generated,
        "write_s": time.perf_counter() - start - generated,
        "rows": rows,
        "mib": {n: (folder / f"{n}.parquet").stat().st_size / 2**20 for n in rows},
    }


def step_score(folder: Path) -> dict:
    started = time.perf_counter()
    import joblib

    from churnkit.data.io import write_table
    from churnkit.data.load import load_shop

    phases: dict[str, float] = {"import": time.perf_counter() - started}

    def lap(name: str, t0: float) -> float:
        now = time.perf_counter()
        phases[name] = now - t0
        return now

    t = time.perf_counter()
    model = joblib.load(folder / "model.joblib")
    t = lap("load model", t)
    data = load_shop(  # as `churnkit score` loads: the events read in place
        folder / "transactions.parquet",
        folder / "events.parquet",
        folder / "customers.parquet",
        events_in_place=True,
    )
    t = lap("load_shop (read + validate 3 Parquet files)", t)
    as_of = data.date_range()[1] + dt.timedelta(days=1)  # the CLI's default as-of date
    features = model.features(data, as_of=as_of)
    t = lap("features (build_features → pandas)", t)
    scores = model.score_features(features)
    t = lap("score_features (BTYD, LightGBM + reasons, segments, actions)", t)
    write_table(scores, folder / "scores.parquet")
    lap("write_table (Parquet)", t)
    end_to_end = sum(v for k, v in phases.items() if k != "import")
    reasons = compare_reasons(model, features) if model.churn_ is not None else {}
    return {
        "phases_s": phases,
        "end_to_end_s": end_to_end,
        "process_s": time.perf_counter() - started,
        "customers_scored": len(scores),
        "feature_columns": features.shape[1] - 2,
        "as_of": str(as_of),
        "mean_churn_probability": float(scores["churn_probability"].mean()),
        "reasons": reasons,
    }


def compare_reasons(model, features, n: int = REASONS_SAMPLE) -> dict:  # type: ignore[no-untyped-def]
    """TreeSHAP against path attribution on the first ``n`` customers: time and agreement (not timed above)."""
    import numpy as np

    full, _, _ = model._predict(features.iloc[:n])
    X = full[model.input_columns_]
    timed = {}
    values = {}
    for method in ("shap", "path"):
        t0 = time.perf_counter()
        values[method] = model.churn_.contributions(X, method=method).to_numpy()
        timed[method] = time.perf_counter() - t0
    shap, path = values["shap"], values["path"]
    top3 = {m: np.argsort(-v, axis=1, kind="stable")[:, :3] for m, v in values.items()}
    overlap = np.mean([len(set(a) & set(b)) / 3 for a, b in zip(top3["shap"], top3["path"], strict=True)])
    return {
        "rows": len(X),
        "shap_s": timed["shap"],
        "path_s": timed["path"],
        "top1_agreement": float(np.mean(shap.argmax(axis=1) == path.argmax(axis=1))),
        "top3_overlap": float(overlap),
    }


def step_cli(folder: Path, seed: int) -> dict:
    """The real commands: `churnkit train` on the demo's 5,000-customer shop, then `churnkit score` on the big one.

    The demo-size model is larger than the library step's (it trains on 6 snapshots of 5,000 customers),
    so this is the slower, more realistic case. Wall time and peak RSS are the `score` process's own.
    """
    import resource

    churnkit = str(Path(sys.executable).with_name("churnkit"))
    work = folder / "cli"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    run = {"cwd": work, "capture_output": True, "text": True, "check": True}
    subprocess.run([churnkit, "generate", "shop", "--customers", "5000", "--seed", str(seed)], **run)
    shop = [f"shop/{n}.csv" for n in ("transactions", "events", "customers")]
    trained = subprocess.run(
        [
            churnkit,
            "train",
            "-t",
            shop[0],
            "-e",
            shop[1],
            "--customers",
            shop[2],
            "--json",
            "--quiet",
            "--tracking-uri",
            f"sqlite:///{work / 'mlflow.db'}",
        ],
        **run,
    )
    run_id = json.loads(trained.stdout.strip().splitlines()[-1])["run_id"]
    model = work / "models" / run_id
    import joblib

    churn = joblib.load(next(model.rglob("churnkit_model.joblib"))).churn_
    command = [
        churnkit,
        "score",
        "--model",
        str(model),
        "-t",
        str(folder / "transactions.parquet"),
        "-e",
        str(folder / "events.parquet"),
        "--customers",
        str(folder / "customers.parquet"),
        "--out",
        str(work / "scores.parquet"),
        "--quiet",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, **run)
    wall = time.perf_counter() - started
    return {
        "score_s": wall,
        "score_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "churn_trees": churn.booster_.num_trees() if churn is not None else 0,
        "stdout": done.stdout.strip().splitlines()[-1],
        "command": "churnkit score --model models/<run_id> -t transactions.parquet -e events.parquet "
        "--customers customers.parquet --out scores.parquet --quiet",
    }


def _child(step: str, folder: Path, *extra: str) -> dict:
    """Run one step in a fresh interpreter; return its JSON plus its wall time and peak RSS."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--step", step, "--data-dir", str(folder), *extra],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"step {step} failed with exit code {done.returncode}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - started
    return out


# ---------------------------------------------------------------------------------------------- report


def report(
    args: argparse.Namespace, command: str, trained: dict, generated: dict, scored: dict, cli: dict
) -> str:
    total = scored["end_to_end_s"]
    verdict = "met" if total <= TARGET_SECONDS else "MISSED"
    rows = generated["rows"]
    lines = [
        "# Scoring benchmark",
        "",
        f"- command: `{command}`",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average at the end "
        f"{os.getloadavg()[0]:.1f} (the machine is shared, timings are noisy)",
        f"- machine: {os.cpu_count()} cores (nproc), {cpu_model()}, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
        f"- model: `pipeline.train` on a {args.train_customers:,}-customer sample shop (seed {args.seed}, "
        f"{', '.join(f'{k} {v}' for k, v in TRAIN_SETTINGS.items())}): mode {trained['mode']}, "
        f"churn model {trained['champion']}, backtest churn AUC {trained['churn_auc']:.3f}, "
        f"{trained['training_rows']:,} training rows, {trained['features']} model inputs; "
        f"trained in {trained['train_s']:.1f} s (peak RSS {trained['peak_rss_mib']:,.0f} MiB)",
        f"- data: `generate_shop({args.customers:,}, seed={args.seed + 1})` → Parquet: "
        + ", ".join(f"{rows[n]:,} {n} ({generated['mib'][n]:.0f} MiB)" for n in rows)
        + f"; generated in {generated['generate_s']:.0f} s, written in {generated['write_s']:.0f} s, "
        f"peak RSS {generated['peak_rss_mib']:,.0f} MiB (the generator, not churnkit's scoring)",
        "- each step runs in a fresh process; peak RSS is that process's maximum resident set",
        "",
        "| step | seconds |",
        "|---|---:|",
    ]
    for name, seconds in scored["phases_s"].items():
        label = "import churnkit, pandas, duckdb, lightgbm (not counted)" if name == "import" else name
        lines.append(f"| {label} | {seconds:.1f} |")
    lines += [
        f"| **end to end: Parquet files → scores file** | **{total:.1f}** |",
        "",
        f"**Scoring {scored['customers_scored']:,} customers at {scored['as_of']}: {total:.1f} s end to end, "
        f"peak RSS {scored['peak_rss_mib']:,.0f} MiB** (process wall {scored['process_s']:.1f} s with imports; "
        f"{scored['feature_columns']} feature columns). Target ≤ {TARGET_SECONDS:.0f} s: {verdict}.",
        "",
        f"Mean churn probability over the base: {scored['mean_churn_probability']:.3f}.",
    ]
    verdict_cli = "met" if cli["score_s"] <= TARGET_SECONDS else "MISSED"
    lines += [
        "",
        f"**The command line**, with the model `churnkit train` makes from the demo's 5,000-customer shop "
        f"({cli['churn_trees']} churn trees, against {trained.get('churn_trees', '?')} above): "
        f"`{cli['command']}` took **{cli['score_s']:.1f} s** wall, imports and model loading included, peak RSS "
        f"{cli['score_peak_rss_mib']:,.0f} MiB. Target ≤ {TARGET_SECONDS:.0f} s: {verdict_cli}. "
        f"It printed: `{cli['stdout']}`",
    ]
    r = scored.get("reasons")
    if r:
        lines += [
            "",
            f"**Reasons** (`models.reasons`), on the first {r['rows']:,} customers of the base, not part of the "
            f"time above: TreeSHAP (`shap`) {r['shap_s']:.1f} s, path attribution (`path`, the default) "
            f"{r['path_s']:.2f} s ({r['shap_s'] / r['path_s']:.0f}× faster); the same top feature for "
            f"{r['top1_agreement']:.1%} of customers, {r['top3_overlap']:.1%} of the top three shared.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers in the shop to score")
    parser.add_argument("--train-customers", type=int, default=2000, help="customers in the training shop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None, help="working folder (default: a temp folder)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the working folder; reuse its Parquet files"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--step", choices=["train", "generate", "score", "cli"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.step:
        folder = args.data_dir
        if args.step == "train":
            out = step_train(folder, args.train_customers, args.seed)
        elif args.step == "generate":
            out = step_generate(folder, args.customers, args.seed + 1)
        elif args.step == "cli":
            out = step_cli(folder, args.seed)
        else:
            out = step_score(folder)
        out["peak_rss_mib"] = peak_rss_mib()
        sys.stdout.write(json.dumps(out) + "\n")
        return 0

    command = "python bench/scoring.py " + " ".join(sys.argv[1:] if argv is None else argv)
    folder = args.data_dir or Path(tempfile.mkdtemp(prefix="churnkit-bench-scoring-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        sys.stderr.write(f"training on {args.train_customers:,} customers ...\n")
        trained = _child(
            "train", folder, "--train-customers", str(args.train_customers), "--seed", str(args.seed)
        )
        files = [folder / f"{n}.parquet" for n in ("transactions", "events", "customers")]
        marker = folder / "shop.json"
        if (
            args.keep
            and marker.exists()
            and json.loads(marker.read_text()).get("args") == [args.customers, args.seed]
        ):
            generated = json.loads(marker.read_text())["generated"]
            sys.stderr.write("reusing the generated shop\n")
        else:
            sys.stderr.write(f"generating {args.customers:,} customers ...\n")
            generated = _child(
                "generate", folder, "--customers", str(args.customers), "--seed", str(args.seed)
            )
            marker.write_text(json.dumps({"args": [args.customers, args.seed], "generated": generated}))
        assert all(f.exists() for f in files)
        sys.stderr.write("scoring ...\n")
        scored = _child("score", folder)
        sys.stderr.write("churnkit train (demo shop) and churnkit score ...\n")
        cli = _child("cli", folder, "--seed", str(args.seed))
    finally:
        if not args.keep and args.data_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    text = report(args, command.strip(), trained, generated, scored, cli)
    sys.stdout.write(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    summary = {
        "end_to_end_s": scored["end_to_end_s"],
        "peak_rss_mib": scored["peak_rss_mib"],
        "customers_scored": scored["customers_scored"],
        "target_s": TARGET_SECONDS,
        "phases_s": scored["phases_s"],
        "generate_peak_rss_mib": generated["peak_rss_mib"],
        "cli_score_s": cli["score_s"],
        "cli_score_peak_rss_mib": cli["score_peak_rss_mib"],
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
