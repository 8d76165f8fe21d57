"""The notebooks: committed without outputs, and executed end to end (nbclient) on small data.

Each notebook has a cell tagged ``parameters``; the test inserts a cell after it that overrides them
(papermill's convention) — a temporary ``WORK_DIR`` and, for CDNOW, a customer sample — and appends one probe
cell that prints the values the assertions check as JSON. The kernel runs with the notebooks folder as its
working directory, like Jupyter, and must not write anything into the repository.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
QUICKSTART = NOTEBOOKS / "01_quickstart.ipynb"
CDNOW = NOTEBOOKS / "02_cdnow.ipynb"
ALL = [QUICKSTART, CDNOW]
STRIP_HINT = "run `.venv/bin/python scripts/strip_notebooks.py` before committing"


# ------------------------------------------------------------------------------------------ committed form


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: {STRIP_HINT}"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count: {STRIP_HINT}"
        assert "execution" not in cell.metadata, f"{path.name} cell {i} has execution timings: {STRIP_HINT}"
    assert set(nb.metadata) <= {"kernelspec", "language_info"}, f"{path.name}: {STRIP_HINT}"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_notebook_has_a_parameters_cell_and_explains_itself(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    assert "WORK_DIR = None" in tagged[0].source
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    markdown = sum(c.cell_type == "markdown" for c in nb.cells)
    assert markdown >= len(nb.cells) / 3, "a tutorial: markdown explains each step"


def test_strip_script_strips(tmp_path: Path) -> None:
    """scripts/strip_notebooks.py removes outputs, counts and timings, and keeps everything else."""
    import subprocess

    nb = nbformat.read(QUICKSTART, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    cell.execution_count = 7
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    nb.metadata["widgets"] = {}
    dirty = tmp_path / "dirty.ipynb"
    nbformat.write(nb, dirty)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "strip_notebooks.py"), str(dirty)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "stripped" in done.stdout
    clean = nbformat.read(dirty, as_version=4)
    assert clean.cells == nbformat.read(QUICKSTART, as_version=4).cells
    assert set(clean.metadata) == {"kernelspec", "language_info"}
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "strip_notebooks.py"), "--check", str(dirty)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


# ------------------------------------------------------------------------------------------ execution


def test_kernelspec_fallback_gives_a_kernel_on_this_interpreter(tmp_path: Path, monkeypatch) -> None:
    """What _kernel_name does when Jupyter finds no python3 kernel: install one, findable, running this Python."""
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager

    install(prefix=str(tmp_path))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.resource_dir).is_relative_to(tmp_path)
    assert spec.argv[0] == sys.executable and "ipykernel_launcher" in spec.argv


def _kernel_name() -> str:
    """The python3 kernelspec, installed into this interpreter's prefix if Jupyter cannot find one."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(prefix=sys.prefix)
        KernelSpecManager().get_kernel_spec("python3")  # found now, or fail loudly here
    return "python3"


def _tree(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}


def execute(path: Path, overrides: dict[str, object], probe: str, *, timeout: int) -> dict:
    """Run the notebook with ``overrides`` injected after its parameters cell; return the probe's JSON."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in overrides.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at + 1, injected)
    nb.cells.append(nbformat.v4.new_code_cell("import json as _json\nprint(_json.dumps(" + probe + "))"))
    before = _tree(NOTEBOOKS)  # the kernel's working folder: a relative path would write here
    client = NotebookClient(
        nb,
        kernel_name=_kernel_name(),
        timeout=timeout,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    assert _tree(NOTEBOOKS) == before, "the notebook wrote into notebooks/ (use WORK)"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", out
            if out.output_type == "stream" and out.name == "stderr":
                assert "Traceback" not in out.text
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    return json.loads(text.strip().splitlines()[-1])


@pytest.mark.notebook
@pytest.mark.slow
def test_quickstart_runs_on_a_small_shop(tmp_path: Path) -> None:
    work = tmp_path / "work"
    probe = """{
        "n_scored": len(scores),
        "mode": result.mode,
        "metrics": {k: result.backtest.metrics.get(k) for k in ("churn_auc", "baseline_btyd_churn_auc",
                                                               "baseline_recency_churn_auc")},
        "score_columns": list(scores.columns),
        "plots": sorted(plots),
        "segments": sorted(rfm["rfm_segment"].unique()),
        "clusters": int(clusters.n_clusters_),
    }"""
    got = execute(QUICKSTART, {"WORK_DIR": str(work)}, probe, timeout=900)
    assert got["n_scored"] > 1000
    assert got["mode"] == "boosted"
    assert got["metrics"]["churn_auc"] > 0.75 and got["metrics"]["baseline_btyd_churn_auc"] > 0.7
    assert {"churn_probability", "predicted_clv", "top_reasons", "recommended_action"} <= set(
        got["score_columns"]
    )
    assert {"calibration", "gains", "importance", "clv_deciles", "segment_profile"} <= set(got["plots"])
    assert len(got["segments"]) >= 4 and got["clusters"] >= 2
    rejected = (work / "rejected" / "transactions_rejected.csv").read_text()
    assert "missing customer_id" in rejected and "unparseable timestamp" in rejected
    assert (work / "transitions.png").stat().st_size > 1000


@pytest.mark.notebook
@pytest.mark.slow
def test_cdnow_notebook_reproduces_the_published_parameters(tmp_path: Path, monkeypatch) -> None:
    # CDNOW's canonical CSV is cached per run (the kernel inherits this environment).
    monkeypatch.setenv("CHURNKIT_CACHE", str(tmp_path / "cache"))
    probe = """{
        "published": published[["published", "churnkit"]].to_dict(orient="index"),
        "customers": int(data.con.sql("SELECT count(DISTINCT customer_id) FROM transactions").fetchall()[0][0]),
        "test_as_of": str(result.backtest.test_as_of),
        "train_as_ofs": [str(d) for d in result.backtest.train_as_ofs],
        "mode": result.mode,
        "comparison": comparison.to_dict(orient="index"),
        "deciles": len(clv_deciles),
        "segments": int(by_segment["customers"].sum()),
        "n_scored": len(scores),
    }"""
    got = execute(CDNOW, {"WORK_DIR": str(tmp_path / "work"), "SAMPLE_CUSTOMERS": 5000}, probe, timeout=900)
    for name, row in got["published"].items():
        # the papers print three significant digits
        assert row["churnkit"] == pytest.approx(row["published"], rel=5e-3, abs=1e-3), name
    assert got["customers"] == 5000
    assert got["test_as_of"] == "1997-10-01"
    # six origins 30 days apart back from 1997-07-03, each with 30 days of history (training.min_history_days)
    assert got["train_as_ofs"] == [
        "1997-02-03",
        "1997-03-05",
        "1997-04-04",
        "1997-05-04",
        "1997-06-03",
        "1997-07-03",
    ]
    assert got["mode"] == "boosted"
    auc = got["comparison"]["churn_auc"]
    assert auc["boosted"] > 0.65 and auc["BG/NBD"] > 0.65
    assert abs(auc["boosted"] - auc["BG/NBD"]) < 0.08  # purchases only: close to BG/NBD
    assert got["deciles"] == 10
    assert got["segments"] == got["n_scored"] > 4000
