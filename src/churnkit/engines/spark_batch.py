"""The Spark job: ``spark-submit <this file> features|score ...`` or ``python -m churnkit.engines.spark_batch``.

`load_job_shop` and `run_job` are library calls (they return values and raise `churnkit.errors.ChurnkitError`);
`main` only parses the arguments, prints and turns a user mistake into exit code 2. The job sits on top of the
engine, like `churnkit.jobs`: it reads the tracking settings.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from churnkit.config import Config, load_config
from churnkit.data.shop import load_shop, no_transactions_error
from churnkit.errors import ChurnkitError, ConfigError

if TYPE_CHECKING:
    from churnkit.engines.spark import SparkShopData

COMMANDS = ("features", "score")


def job_config(
    config: str | Path | None,
    *,
    transactions: str | None = None,
    events: str | None = None,
    customers: str | None = None,
    as_of: str | None = None,
    tracking_uri: str | None = None,
) -> Config:
    """The config file with the job's options on top, on the spark engine."""
    return load_config(
        config,
        **{
            "inputs.transactions.path": transactions,
            "inputs.events.path": events,
            "inputs.customers.path": customers,
            "tracking.tracking_uri": tracking_uri,
            "as_of": as_of,
            "engine": "spark",
        },
    )


def load_job_shop(
    cfg: Config, command: str, *, model_uri: str | None = None, rejected_dir: str | Path | None = None
) -> SparkShopData:
    """Check the job's inputs, then load the shop on Spark (`churnkit.data.shop.load_shop`)."""
    if cfg.inputs.transactions.path is None:
        raise no_transactions_error()
    if command == "score" and not model_uri:
        raise ConfigError("score needs --model (e.g. models:/churnkit@champion)")
    return load_shop(cfg, rejected_dir=rejected_dir)  # type: ignore[return-value]


def run_job(
    command: str, data: SparkShopData, cfg: Config, *, out: str | Path, model_uri: str | None = None
) -> str:
    """Compute the features at ``cfg.as_of`` (``features``) or the batch scores (``score``) and write them to
    ``out``; returns where they went."""
    from churnkit.engines.spark_scoring import score_on_spark, spark_features, write_frame

    if command == "features":
        frame = spark_features(
            data,
            as_of=cfg.as_of,
            windows=tuple(cfg.features.windows),
            session_gap_minutes=cfg.features.session_gap_minutes,
        )
    else:
        import mlflow

        from churnkit.tracking.runs import tracking_uri

        mlflow.set_tracking_uri(tracking_uri(cfg))
        assert model_uri is not None
        frame = score_on_spark(data.spark, model_uri, data, as_of=cfg.as_of)
    return write_frame(frame, out)


def main(argv: list[str] | None = None) -> int:
    """The Spark job: ``spark-submit <this file> features|score ...`` or ``python -m churnkit.engines.spark_batch``.

    ``features`` writes the feature table at the as-of date; ``score`` batch-scores the customer base with a
    logged model through ``spark_udf``. Inputs and outputs may be any path Spark reads and writes (s3://,
    abfss://, dbfs:/, hdfs://, local). Exit code 2 and one line on stderr for a user mistake.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="churnkit.engines.spark_batch", description=main.__doc__)
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--transactions", "-t", help="transactions file or folder (CSV or Parquet)")
    parser.add_argument("--events", "-e", help="browsing events file or folder")
    parser.add_argument("--customers", help="customers file or folder")
    parser.add_argument("--config", "-c", help="YAML config (column mapping, feature windows, tracking)")
    parser.add_argument("--as-of", help="as-of date D (YYYY-MM-DD); default: the day after the last purchase")
    parser.add_argument("--model", "-m", help="score: MLflow model URI, e.g. models:/churnkit@champion")
    parser.add_argument("--tracking-uri", help="score: MLflow tracking URI (default: MLFLOW_TRACKING_URI)")
    parser.add_argument(
        "--rejected-dir", help="driver-side folder for the rows set aside (default: counted only)"
    )
    parser.add_argument("--out", "-o", required=True, help="output (.parquet or .csv; Spark writes a folder)")
    args = parser.parse_args(argv)
    try:
        cfg = job_config(
            args.config,
            transactions=args.transactions,
            events=args.events,
            customers=args.customers,
            as_of=args.as_of,
            tracking_uri=args.tracking_uri,
        )
        data = load_job_shop(cfg, args.command, model_uri=args.model, rejected_dir=args.rejected_dir)
        for line in data.report.lines():
            sys.stdout.write(line + "\n")
        target = run_job(args.command, data, cfg, out=args.out, model_uri=args.model)
        sys.stdout.write(f"{args.command} → {target}\n")
    except ChurnkitError as e:
        sys.stderr.write(f"Error: {e}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
