"""The README's shell blocks run as written, in an empty folder: the sample shop, the steps by hand, serving.

Only two things change from the README text: the sample shop has 800 customers instead of 5,000 (so the
test takes about two minutes), and the server listens on a free port instead of 5001. The virtualenv's
``bin/`` goes first on ``PATH`` (as after ``source .venv/bin/activate``), so ``churnkit``, ``mlflow`` and
``uvicorn`` are the project's. The server is started in its own process group and killed after the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def block_with(text: str) -> str:
    found = [b for b in bash_blocks() if text in b]
    assert len(found) == 1, f"expected one README bash block containing {text!r}, found {len(found)}"
    return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MLFLOW_TRACKING_URI", None)  # the README relies on the default store in the working folder
    env["HOME"] = str(folder)
    return env


def run_block(script: str, folder: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_readme_steps_by_hand_and_serving_run_as_written(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    env = environment(folder)
    generate = block_with("churnkit generate shop/")
    assert "--customers 5000" in generate
    t0 = time.perf_counter()
    done = run_block(generate.replace("--customers 5000", "--customers 800"), folder, env, 300)
    assert done.returncode == 0, done.stderr

    steps = block_with("churnkit validate")
    done = run_block(steps, folder, env, 900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    steps_seconds = time.perf_counter() - t0
    assert "Traceback" not in done.stderr
    (json_line,) = [line for line in done.stdout.splitlines() if line.startswith("{")]
    trained = json.loads(json_line)
    assert trained["champion"] is True
    for name in ("scores.csv", "segments.csv", "report.html", "kpis/kpis.csv", "mlflow.db"):
        assert (folder / name).exists(), name
    assert (folder / "mlruns").is_dir() and (folder / "models" / "latest" / "MLmodel").is_file()
    scores = pd.read_csv(folder / "scores.csv", dtype={"customer_id": str})
    assert 0 < len(scores) <= 800
    assert (
        trained["run_id"] in (folder / "report.html").read_text()
    )  # `report latest` took the run just trained

    serve = block_with("mlflow models serve")
    port = free_port()
    assert "5001" in serve
    out_file, err_file = tmp_path / "serve.out", tmp_path / "serve.err"
    with out_file.open("w") as out, err_file.open("w") as err:  # files: the server keeps its copies open
        proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", serve.replace("5001", str(port))],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        t1 = time.perf_counter()
        try:
            proc.wait(timeout=240)
        except subprocess.TimeoutExpired:
            pytest.fail(
                "the README's serve block did not answer within 240 s: " + err_file.read_text()[-2000:]
            )
        serve_seconds = time.perf_counter() - t1
        assert proc.returncode == 0, err_file.read_text()[-3000:]
        (answer_line,) = [x for x in out_file.read_text().splitlines() if x.startswith('{"predictions"')]
        predictions = json.loads(answer_line)["predictions"]
        example = json.loads((folder / "models" / "latest" / "serving_input_example.json").read_text())
        split = example["dataframe_split"]
        rows = pd.DataFrame(split["data"], columns=split["columns"])
        tx = rows[rows["table"] == "transactions"]
        buyers = set(tx.loc[tx["amount"].astype(float) > 0, "customer_id"])
        assert {p["customer_id"] for p in predictions} == buyers
        assert len(predictions) == len(buyers)
        as_of = example["params"]["as_of"]
        assert {p["as_of"] for p in predictions} == {as_of}
        # without the parameter the date would be the day after the example's own last purchase
        own_default = (pd.to_datetime(tx["timestamp"]).max().normalize() + pd.Timedelta(days=1)).date()
        assert str(own_default) != as_of
        assert all(0 <= p["churn_probability"] <= 1 for p in predictions)

        bad = dict(example, params={"as_of": "1990-01-01"})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(bad).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=60)
        assert answer.value.code == 400
        body = json.loads(answer.value.read())
        assert body["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "churnkit: as-of date 1990-01-01 is not after the first purchase" in body["message"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # bash is gone; the server and uvicorn are in its group
        proc.wait(timeout=30)
    print(f"\nREADME steps by hand: {steps_seconds:.1f} s; serve block: {serve_seconds:.1f} s")
