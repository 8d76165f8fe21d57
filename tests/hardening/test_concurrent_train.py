"""Two `churnkit train` runs at the same time on one SQLite MLflow store both succeed and both are kept.

The two processes are started together and, to make the race certain rather than likely, meet at a barrier
right before they log their MLflow runs (``_slow_cli.py``; otherwise they are plain ``churnkit train``).

A team shares one ``sqlite:///mlflow.db``; two people (or two scheduled jobs) train at once. Both commands
must exit 0, both runs must be in the store as FINISHED with their metrics, the registered model must get
two distinct versions, and both local exports must be complete under the shared ``models/`` folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _store_contents(store: str) -> tuple[dict[str, dict], list[str]]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store, registry_uri=store)
    experiment = client.get_experiment_by_name("churnkit")
    runs = client.search_runs([experiment.experiment_id])
    versions = sorted(str(v.version) for v in client.search_model_versions("name = 'churnkit'"))
    return {r.info.run_id: {"status": r.info.status, "metrics": r.data.metrics} for r in runs}, versions


def _train_twice_at_once(procs, small_shop, work: Path, store: str) -> list[dict]:
    """Two `train` processes; a barrier (see _slow_cli.py) makes both open the store at the same moment."""
    barrier = work / "barrier"
    barrier.mkdir()
    running = [
        procs.start(
            procs.slow_churnkit(*procs.train_args(small_shop, store)),
            work,
            CHURNKIT_TEST_BARRIER=f"{barrier}:2",
        )
        for _ in range(2)
    ]
    results = [procs.finish(p) for p in running]
    for code, out, err in results:
        assert code == 0, f"exit {code}\n{out}\n{err}"
    return [json.loads(out.strip().splitlines()[-1]) for _, out, _ in results]


def _check_both_kept(procs, reference_train, work: Path, store: str, infos: list[dict]) -> None:
    run_ids = {info["run_id"] for info in infos}
    assert len(run_ids) == 2
    runs, versions = _store_contents(store)
    assert run_ids <= set(runs)
    for run_id in run_ids:
        assert runs[run_id]["status"] == "FINISHED"
        assert "churn_auc" in runs[run_id]["metrics"]
    assert sorted({info["registered_version"] for info in infos}) == sorted(versions)[-2:]
    for run_id in run_ids:
        assert procs.files_under(work / "models" / run_id) == reference_train["files"]
    assert (work / "models" / "latest").resolve().name in run_ids
    assert not list((work / "models").glob(".*"))  # no .partial folders, no .latest.tmp


def test_two_trains_at_once_on_an_existing_store(procs, small_shop, reference_train, tmp_path: Path) -> None:
    """The common case: the shared store exists, with the experiment and a registered version 1."""
    shutil.copy(reference_train["store"].removeprefix("sqlite:///"), tmp_path / "mlflow.db")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    infos = _train_twice_at_once(procs, small_shop, tmp_path, store)
    _check_both_kept(procs, reference_train, tmp_path, store, infos)
    assert sorted(info["registered_version"] for info in infos) == ["2", "3"]


def test_two_trains_at_once_on_a_new_store(procs, small_shop, reference_train, tmp_path: Path) -> None:
    """The first day: both commands find no database, and create it, the experiment and the model at once."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    infos = _train_twice_at_once(procs, small_shop, tmp_path, store)
    _check_both_kept(procs, reference_train, tmp_path, store, infos)
