"""Shared fixtures for the hardening tests: a small sample shop, one reference `train` and `score` run.

Commands run as real subprocesses (``python -m churnkit.cli ...``) in their own working folder, so they can
be run concurrently and interrupted with real signals.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from churnkit.datasets.sample_shop import generate_shop, write_shop

HERE = Path(__file__).parent
N_CUSTOMERS = 600  # small: every train here is a full backtest + final fit + MLflow run


def churnkit(*args: object) -> list[str]:
    """The command line of `python -m churnkit.cli ARGS` with this interpreter."""
    return [sys.executable, "-m", "churnkit.cli", *map(str, args)]


def slow_churnkit(*args: object) -> list[str]:
    """The same CLI with its output write slowed down (see _slow_cli.py)."""
    return [sys.executable, str(HERE / "_slow_cli.py"), *map(str, args)]


def _default_sigint() -> None:
    # A background shell starts children with SIGINT ignored; Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Running:
    """A started subprocess whose stdout and stderr are read by threads (so a test can wait for a line)."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        import os
        import threading

        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
            preexec_fn=_default_sigint,  # no threads exist in the child before exec
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(stream, sink), daemon=True)
            for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, sink: list[str]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            with self._changed:
                sink.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def poll(self) -> int | None:
        return self.proc.poll()

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.kill()

    def wait_for_line(self, text: str, timeout: float = 600) -> None:
        """Wait until stderr has a line containing ``text``; fail if the process ends first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(text in line for line in self.err):
                if self.proc.poll() is not None and not any(r.is_alive() for r in self._readers):
                    pytest.fail(f"exited {self.proc.returncode} before {text!r}\n{''.join(self.err)}")
                if time.monotonic() > deadline:
                    self.proc.kill()
                    pytest.fail(f"timed out waiting for {text!r}\n{''.join(self.err)}")
                self._changed.wait(timeout=0.2)

    def communicate(self, timeout: float = 900) -> tuple[int, str, str]:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        for reader in self._readers:
            reader.join(timeout=30)
        return code, "".join(self.out), "".join(self.err)


def start(cmd: list[str], cwd: Path, **env: str) -> Running:
    return Running(cmd, cwd, env)


def finish(proc: Running, timeout: float = 900) -> tuple[int, str, str]:
    return proc.communicate(timeout=timeout)


def wait_for(path: Path, proc: Running, timeout: float = 600) -> None:
    """Wait until ``path`` exists (the slow write has started); fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            code, out, err = proc.communicate()
            pytest.fail(f"exited {code} before the slow write started\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {path}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def small_shop(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hardening-shop")
    paths = write_shop(generate_shop(N_CUSTOMERS, seed=11), folder, fmt="csv")
    config = folder / "fast.yaml"
    config.write_text("training:\n  n_snapshots: 3\n  spacing_days: 45\n")
    return {**paths, "config": config}


def train_args(shop: dict[str, Path], store: str, *, quiet: bool = True) -> list[object]:
    return [
        "train",
        "--transactions",
        shop["transactions"],
        "--events",
        shop["events"],
        "--customers",
        shop["customers"],
        "--config",
        shop["config"],
        "--tracking-uri",
        store,
        "--json",
        *(["--quiet"] if quiet else []),
    ]


def score_args(shop: dict[str, Path], model: Path, out: Path, *, quiet: bool = True) -> list[object]:
    return [
        "score",
        "--model",
        model,
        "--transactions",
        shop["transactions"],
        "--events",
        shop["events"],
        "--customers",
        shop["customers"],
        "--out",
        out,
        *(["--quiet"] if quiet else []),
    ]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def reference_train(small_shop, tmp_path_factory) -> dict:
    """One uninterrupted train: its duration, run id, local model folder and that folder's files."""
    work = tmp_path_factory.mktemp("reference-train")
    store = f"sqlite:///{work / 'mlflow.db'}"
    started = time.perf_counter()
    code, out, err = finish(start(churnkit(*train_args(small_shop, store)), work))
    assert code == 0, out + err
    info = json.loads(out.strip().splitlines()[-1])
    model = work / info["local_model"]
    return {
        "seconds": time.perf_counter() - started,
        "run_id": info["run_id"],
        "model": model,
        "files": files_under(model),
        "store": store,
    }


@pytest.fixture(scope="session")
def reference_score(small_shop, reference_train, tmp_path_factory) -> dict:
    """One uninterrupted score with the reference model: its duration and the exact bytes written."""
    work = tmp_path_factory.mktemp("reference-score")
    out_file = work / "scores.csv"
    started = time.perf_counter()
    code, out, err = finish(
        start(churnkit(*score_args(small_shop, reference_train["model"], out_file)), work)
    )
    assert code == 0, out + err
    return {"seconds": time.perf_counter() - started, "bytes": out_file.read_bytes()}


@pytest.fixture(scope="session")
def procs():  # type: ignore[no-untyped-def]
    """The subprocess helpers above, for the test modules (conftest is not importable under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        churnkit=churnkit,
        slow_churnkit=slow_churnkit,
        start=start,
        finish=finish,
        wait_for=wait_for,
        train_args=train_args,
        score_args=score_args,
        files_under=files_under,
    )
