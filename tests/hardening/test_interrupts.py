"""An interrupted `score` or `train` leaves no half-written output.

Outputs are written to a temporary name beside the target and renamed on success (``atomic_path`` for
tables, a ``.<run_id>.partial`` folder for the local model export). What each signal can promise:

- **SIGINT** (Ctrl-C): Python raises KeyboardInterrupt, ``finally`` blocks run. The output is either complete
  or absent, and no temporary file or folder is left behind.
- **SIGTERM** (``kill``, a scheduler's timeout, ``docker stop``): the same promise as SIGINT — it is the
  polite way to stop a batch job. This needs the CLI to turn SIGTERM into an exception; Python's default
  is to die on the spot without running ``finally``.
- **SIGKILL** (``kill -9``, the OOM killer): nothing runs, so a temporary file may remain — but the rename is
  atomic, so the output itself is still either complete or absent, and the next run succeeds.

Two kinds of tests: a signal during each step of the command (right after its progress line), and a signal
delivered exactly while the output is being written (``_slow_cli.py`` pauses the write half-way).
SIGKILL and SIGTERM also leave the MLflow run of an interrupted `train` in state RUNNING: nothing can be done
about SIGKILL; for SIGTERM it is the same missing handler.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


def leftovers(folder: Path, name: str) -> list[str]:
    """Temporary files atomic_path makes for ``name``: ``.<name>.<random>.tmp``."""
    return sorted(p.name for p in folder.glob(f".{name}.*.tmp"))


def check_no_partial_output(out_file: Path, reference: bytes) -> None:
    if out_file.exists():
        assert out_file.read_bytes() == reference, "the output exists but differs from an uninterrupted run"


# ------------------------------------------------------------------------------------------ score


SCORE_STEPS = ["loading the model", "loading and validating inputs", "building features and scoring"]


@pytest.mark.parametrize(
    ("sig", "step"),
    [("SIGINT", step) for step in SCORE_STEPS] + [("SIGTERM", SCORE_STEPS[-1]), ("SIGKILL", SCORE_STEPS[-1])],
)
def test_score_signalled_during_each_step(
    procs, small_shop, reference_train, reference_score, tmp_path: Path, sig: str, step: str
) -> None:
    """A signal while a step runs (its progress line was printed): no output, no temp file, no traceback."""
    out_file = tmp_path / "scores.csv"
    proc = procs.start(
        procs.churnkit(*procs.score_args(small_shop, reference_train["model"], out_file, quiet=False)),
        tmp_path,
    )
    proc.wait_for_line(step)
    time.sleep(0.3)
    proc.send_signal(SIGNALS[sig])
    code, _out, err = procs.finish(proc, timeout=300)
    check_no_partial_output(out_file, reference_score["bytes"])
    assert not leftovers(tmp_path, "scores.csv")  # the signal came before the write began
    check_exit(sig, code, err)


def check_exit(sig: str, code: int, err: str) -> None:
    """How each signal ends the command (or it finished first: exit 0)."""
    assert code != 2, f"an interrupt reported as a user error (exit 2):\n{err}"
    if code == 0:
        return
    if sig == "SIGINT":  # typer turns KeyboardInterrupt into exit 130 (128 + SIGINT), without a traceback
        assert code == 130, (code, err)
        assert "Traceback" not in err, err
    elif sig == "SIGTERM":  # churnkit.cli.main turns SIGTERM into SystemExit(143), so `finally` blocks run
        assert code == 143, (code, err)
        assert "Traceback" not in err, err
    else:
        assert code == -SIGNALS[sig], (code, err)


def _score_mid_write(procs, small_shop, reference_train, tmp_path: Path, sig: str) -> tuple[Path, int, str]:
    out_file = tmp_path / "scores.csv"
    marker = tmp_path / "writing"
    proc = procs.start(
        procs.slow_churnkit(*procs.score_args(small_shop, reference_train["model"], out_file)),
        tmp_path,
        CHURNKIT_TEST_MARKER=str(marker),
    )
    procs.wait_for(marker, proc)
    assert Path(marker.read_text()).name.startswith(".scores.csv.")  # half the rows are in the temp file
    proc.send_signal(SIGNALS[sig])
    code, _, err = procs.finish(proc, timeout=120)
    return out_file, code, err


def test_score_sigint_mid_write_leaves_nothing(procs, small_shop, reference_train, tmp_path: Path) -> None:
    out_file, code, err = _score_mid_write(procs, small_shop, reference_train, tmp_path, "SIGINT")
    assert not out_file.exists()
    assert not leftovers(tmp_path, "scores.csv")
    assert code == 130 and "Traceback" not in err, (code, err)


def test_score_sigterm_mid_write_leaves_nothing(procs, small_shop, reference_train, tmp_path: Path) -> None:
    out_file, _code, _err = _score_mid_write(procs, small_shop, reference_train, tmp_path, "SIGTERM")
    assert not out_file.exists()
    assert not leftovers(tmp_path, "scores.csv")


def test_score_sigkill_mid_write_never_leaves_a_partial_output(
    procs, small_shop, reference_train, reference_score, tmp_path: Path
) -> None:
    out_file, code, _ = _score_mid_write(procs, small_shop, reference_train, tmp_path, "SIGKILL")
    assert code == -signal.SIGKILL
    assert not out_file.exists()  # the half-written rows are only ever under the temporary name
    stale = leftovers(tmp_path, "scores.csv")
    assert len(stale) <= 1  # SIGKILL cannot be cleaned up after; documented, not a bug
    # the next run is not disturbed by the stale temp file and writes the complete output
    code, out, err = procs.finish(
        procs.start(
            procs.churnkit(*procs.score_args(small_shop, reference_train["model"], out_file)), tmp_path
        )
    )
    assert code == 0, out + err
    assert out_file.read_bytes() == reference_score["bytes"]


def test_sigint_while_duckdb_runs_a_query_exits_130(procs, small_shop, tmp_path: Path) -> None:
    marker = tmp_path / "querying"
    proc = procs.start(
        procs.slow_churnkit("validate", "--transactions", small_shop["transactions"]),
        tmp_path,
        CHURNKIT_TEST_MARKER=str(marker),
        CHURNKIT_TEST_SLOW_SQL="CREATE OR REPLACE TABLE transactions",
    )
    procs.wait_for(marker, proc)
    time.sleep(1.0)  # the long statement is running
    # One Ctrl-C is enough: churnkit interrupts the statement itself (DuckDB alone noticed it about 1 run in 3).
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        procs.finish(proc, timeout=60)
        pytest.fail("one SIGINT did not stop the running DuckDB statement within 30 s")
    assert time.monotonic() - started < 30
    code, _, err = procs.finish(proc, timeout=60)
    check_exit("SIGINT", code, err)


# ------------------------------------------------------------------------------------------ train


def _train_mid_export(procs, small_shop, tmp_path: Path, sig: str) -> tuple[Path, str, int, str]:
    marker = tmp_path / "copying"
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = procs.start(
        procs.slow_churnkit(*procs.train_args(small_shop, store)), tmp_path, CHURNKIT_TEST_MARKER=str(marker)
    )
    procs.wait_for(marker, proc, timeout=900)
    partial = Path(marker.read_text())
    assert partial.name.startswith(".") and partial.name.endswith(".partial")
    proc.send_signal(SIGNALS[sig])
    code, _, err = procs.finish(proc, timeout=120)
    run_id = partial.name[1 : -len(".partial")]
    return tmp_path / "models", run_id, code, err


def _check_models_folder(models: Path, run_id: str, reference_files: list[str], procs) -> None:
    """No half-written models/<run_id>; `latest`, if present, points at a complete export."""
    target = models / run_id
    if target.exists():
        assert procs.files_under(target) == reference_files
    latest = models / "latest"
    if latest.is_symlink() or latest.exists():
        assert latest.resolve().is_dir() and procs.files_under(latest.resolve()) == reference_files


def test_train_sigint_mid_export_aborts_cleanly(procs, small_shop, reference_train, tmp_path: Path) -> None:
    models, run_id, code, err = _train_mid_export(procs, small_shop, tmp_path, "SIGINT")
    assert code == 130 and "Traceback" not in err, (code, err)
    assert not (models / run_id).exists()
    _check_models_folder(models, run_id, reference_train["files"], procs)
    assert not (models / ".latest.tmp").exists()


def test_train_sigint_mid_export_leaves_no_partial_folder(procs, small_shop, tmp_path: Path) -> None:
    models, run_id, _, _ = _train_mid_export(procs, small_shop, tmp_path, "SIGINT")
    assert not (models / f".{run_id}.partial").exists()


def test_train_sigterm_mid_export_leaves_nothing(procs, small_shop, reference_train, tmp_path: Path) -> None:
    models, run_id, _code, _ = _train_mid_export(procs, small_shop, tmp_path, "SIGTERM")
    _check_models_folder(models, run_id, reference_train["files"], procs)
    assert not (models / run_id).exists()
    assert not (models / f".{run_id}.partial").exists()


def test_train_sigkill_mid_export_never_leaves_a_partial_model(
    procs, small_shop, reference_train, tmp_path: Path
) -> None:
    models, run_id, code, _ = _train_mid_export(procs, small_shop, tmp_path, "SIGKILL")
    assert code == -signal.SIGKILL
    assert not (models / run_id).exists()  # the half-copied model is only ever under .<run_id>.partial
    _check_models_folder(models, run_id, reference_train["files"], procs)


TRAIN_STEPS = [
    "loading and validating inputs",
    "backtest: fitting boosted models",
    "writing plots and logging",
]


@pytest.mark.parametrize(
    ("sig", "step"),
    [("SIGINT", step) for step in TRAIN_STEPS] + [("SIGTERM", TRAIN_STEPS[-1]), ("SIGKILL", TRAIN_STEPS[-1])],
)
def test_train_signalled_during_each_step(
    procs, small_shop, reference_train, tmp_path: Path, sig: str, step: str
) -> None:
    """Before the export: no model folder; after SIGINT the MLflow run is closed (FAILED), not left RUNNING."""
    from mlflow import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = procs.start(procs.churnkit(*procs.train_args(small_shop, store, quiet=False)), tmp_path)
    proc.wait_for_line(step)
    time.sleep(0.3)
    proc.send_signal(SIGNALS[sig])
    code, _out, err = procs.finish(proc, timeout=300)
    check_exit(sig, code, err)
    models = tmp_path / "models"
    if code != 0:
        assert not models.exists() or not [p for p in models.iterdir() if not p.name.startswith(".")]
    if sig == "SIGINT" and (tmp_path / "mlflow.db").exists():
        client = MlflowClient(tracking_uri=store)
        runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
        assert all(r.info.status != "RUNNING" for r in runs), [(r.info.run_id, r.info.status) for r in runs]
