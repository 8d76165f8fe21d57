"""The logged MLflow model and the command line's output modes, against a real SQLite store in a temp folder.

`train` runs as a real process (``python -m churnkit.cli``) so stdout and stderr are exactly what a user sees.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from churnkit.datasets.sample_shop import generate_shop, write_shop

SCORE_COLUMNS = [
    "customer_id",
    "as_of",
    "churn_probability",
    "p_alive",
    "expected_purchases",
    "predicted_clv",
    "segment",
    "rfm_segment",
    "risk_tier",
    "top_reasons",
    "recommended_action",
]


def churnkit(*args, cwd: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "churnkit.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("shop")
    paths = write_shop(generate_shop(800, seed=5), folder, fmt="csv")
    cfg = folder / "fast.yaml"
    cfg.write_text("training:\n  n_snapshots: 3\n  spacing_days: 45\n")
    return {**paths, "config": cfg}


@pytest.fixture(scope="module")
def trained(shop, tmp_path_factory):  # type: ignore[no-untyped-def]
    """`train --json -q` on a new store, then `train -q` (H = 60) on the same store."""
    work = tmp_path_factory.mktemp("work")
    store = f"sqlite:///{work / 'mlflow.db'}"
    common = [
        "-t",
        shop["transactions"],
        "-e",
        shop["events"],
        "--customers",
        shop["customers"],
        "--config",
        shop["config"],
        "--tracking-uri",
        store,
    ]
    t0 = time.time()
    first = churnkit("train", *common, "--json", "-q", cwd=work)
    wall = time.time() - t0
    assert first.returncode == 0, first.stderr
    second = churnkit("train", *common, "--horizon", "60", "-q", cwd=work)
    assert second.returncode == 0, second.stderr
    return {"work": work, "store": store, "first": first, "second": second, "wall": wall}


def test_train_json_quiet_prints_exactly_one_json_object_and_nothing_else(trained):
    run = json.loads(trained["first"].stdout)  # the whole of stdout is one JSON object
    assert set(run) >= {"run_id", "model_uri", "metrics", "local_model"}
    assert trained["first"].stderr == ""  # no MLflow/alembic/lifetimes lines, no progress


def test_train_quiet_prints_only_the_result_line(trained):
    lines = trained["second"].stdout.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("run ") and "model models:/m-" in lines[0] and "version 2" in lines[0]
    assert trained["second"].stderr == ""  # the registered model exists now: MLflow's notice is not printed


def test_run_name_duration_and_log_artifact(trained):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(trained["store"])
    client = MlflowClient()
    run_id = json.loads(trained["first"].stdout)["run_id"]
    run = client.get_run(run_id)
    assert run.info.run_name == f"train H90 D{run.data.tags['churnkit.as_of']}"
    seconds = (run.info.end_time - run.info.start_time) / 1000
    assert seconds >= 0.6 * trained["wall"], (seconds, trained["wall"])  # the run covers the training
    log = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="logs/train.log")).read_text()
    assert "Creating initial MLflow database tables" in log  # what used to reach the terminal is here
    artifacts = Path(trained["work"] / "mlruns")
    assert artifacts.is_dir()  # artifacts beside the SQLite store


def test_signature_lists_long_form_inputs_score_outputs_and_as_of_param(trained):
    import mlflow

    mlflow.set_tracking_uri(trained["store"])
    info = mlflow.models.get_model_info(json.loads(trained["first"].stdout)["model_uri"])
    sig = info.signature
    inputs = sig.inputs.input_names()
    assert inputs[0] == "table"
    for col in ("customer_id", "timestamp", "amount", "order_id", "event_type", "session_id", "signup_date"):
        assert col in inputs, col
    assert "recency" in inputs and "frequency" in inputs  # the feature-table form (spark_udf)
    assert sig.inputs.required_input_names() == []
    outputs = sig.outputs.input_names()
    assert outputs[: len(SCORE_COLUMNS)] != [] and set(SCORE_COLUMNS) <= set(outputs)
    (param,) = [p for p in sig.params.params if p.name == "as_of"]
    assert param.dtype.name == "string"
    assert info.saved_input_example_info["serving_input_path"] == "serving_input_example.json"


def long_form(shop, ids: set[str]) -> pd.DataFrame:
    parts = []
    for name in ("transactions", "events", "customers"):
        df = pd.read_csv(shop[name], dtype=str)
        df = df[df["customer_id"].isin(ids)]
        df.insert(0, "table", name)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def test_as_of_param_makes_batches_agree(trained, shop):
    import mlflow

    mlflow.set_tracking_uri(trained["store"])
    model = mlflow.pyfunc.load_model(json.loads(trained["first"].stdout)["model_uri"])
    tx = pd.read_csv(shop["transactions"], dtype={"customer_id": str}, parse_dates=["timestamp"])
    buyers = sorted(tx.loc[tx["amount"] > 0, "customer_id"].unique())
    # batch A: customers who stopped early plus a shared group; batch B: the shared group plus recent buyers
    last = tx.groupby("customer_id")["timestamp"].max()
    early = [c for c in buyers if last[c] < pd.Timestamp("2024-06-01")][:40]
    late = [c for c in buyers if last[c] >= pd.Timestamp("2025-12-01")][:40]
    shared = [c for c in buyers if c not in set(early) | set(late)][:60]
    a_ids, b_ids = set(early) | set(shared), set(shared) | set(late)
    batch_a, batch_b = long_form(shop, a_ids), long_form(shop, b_ids)

    given = {"as_of": "2025-12-01"}
    a = model.predict(batch_a, params=given).set_index("customer_id")
    b = model.predict(batch_b, params=given).set_index("customer_id")
    assert set(a["as_of"]) == set(b["as_of"]) == {"2025-12-01"}
    common = sorted(set(shared) & set(a.index) & set(b.index))
    assert len(common) >= 30
    cols = ["churn_probability", "p_alive", "expected_purchases", "predicted_clv"]
    pd.testing.assert_frame_equal(a.loc[common, cols], b.loc[common, cols], check_exact=False, rtol=1e-12)

    # without the parameter each batch is scored at the day after its own last purchase: they disagree
    a0 = model.predict(batch_a).set_index("customer_id")
    b0 = model.predict(batch_b).set_index("customer_id")
    assert a0["as_of"].iloc[0] != b0["as_of"].iloc[0]
    assert not (a0.loc[common, "churn_probability"] == b0.loc[common, "churn_probability"]).all()


def test_pyfunc_input_error_carries_churnkit_message(trained, shop):
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(trained["store"])
    model = mlflow.pyfunc.load_model(json.loads(trained["first"].stdout)["model_uri"])
    batch = long_form(shop, set(pd.read_csv(shop["customers"], dtype=str)["customer_id"][:20]))
    with pytest.raises(MlflowException, match="churnkit: as-of date 1990-01-01 is not after") as err:
        model.predict(batch, params={"as_of": "1990-01-01"})
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_runs_fits_the_terminal_width(trained):
    narrow = churnkit(
        "runs", "--tracking-uri", trained["store"], cwd=trained["work"], extra_env={"COLUMNS": "80"}
    )
    wide = churnkit(
        "runs", "--tracking-uri", trained["store"], cwd=trained["work"], extra_env={"COLUMNS": "400"}
    )
    assert narrow.returncode == 0 and wide.returncode == 0, narrow.stderr + wide.stderr
    run_ids = [json.loads(trained["first"].stdout)["run_id"]]
    for out in (narrow.stdout, wide.stdout):
        for run_id in run_ids:
            assert run_id in out
    assert max(len(x) for x in narrow.stdout.splitlines()) <= 80
    assert "columns left out" in narrow.stdout
    assert "columns left out" not in wide.stdout
    header = wide.stdout.splitlines()[0]
    assert "baseline_btyd_churn_auc" in header and len(header) > 80


@pytest.mark.parametrize("command", ["validate", "features", "train", "score", "segment"])
@pytest.mark.parametrize("date", ["2020-01-01", "2030-01-01"])
def test_as_of_outside_the_data_exits_2_with_one_message(cli, trained, shop, tmp_path, command, date):
    args = [command, "-t", shop["transactions"], "--as-of", date, "--tracking-uri", trained["store"]]
    if command in ("features", "score", "segment"):
        args += ["--out", tmp_path / "out.csv"]
    if command == "score":
        args += ["-e", shop["events"], "--customers", shop["customers"]]
        args += ["--model", trained["work"] / json.loads(trained["first"].stdout)["local_model"]]
    result = cli(*args)
    assert result.exit_code == 2, result.stdout + result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Error:")]  # train also shows progress
    assert f"--as-of {date} is outside the data" in line and "choose a date from" in line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_bad_date_text_names_the_option(cli, shop):
    result = cli("validate", "-t", shop["transactions"], "--as-of", "2025-13-01")
    assert result.exit_code == 2
    assert "--as-of" in result.stderr and "expected a date like 2024-01-31" in result.stderr


def test_validate_reports_the_span_and_no_negative_days(cli, shop):
    result = cli("validate", "-t", shop["transactions"], "--as-of", "2023-06-01")
    assert result.exit_code == 0, result.stderr
    tx = pd.read_csv(shop["transactions"], parse_dates=["timestamp"])
    span = (tx["timestamp"].max().normalize() - tx["timestamp"].min().normalize()).days + 1
    assert f"({span:,} days)" in result.stdout
    assert not re.search(r"-\d[\d,]* days", result.stdout)
    history = (pd.Timestamp("2023-06-01") - tx["timestamp"].min().normalize()).days
    assert f"history: {history:,} observed days before 2023-06-01" in result.stdout
