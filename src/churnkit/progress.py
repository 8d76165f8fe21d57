"""Progress for long CLI steps (rich), on stderr so stdout stays clean for `--json`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def progress(*, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Yield a `step(message)` callback: a live spinner on a terminal, timestamped lines elsewhere."""
    if quiet:
        yield lambda _msg: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    start = time.perf_counter()

    def line(msg: str) -> str:
        return f"[dim]{time.perf_counter() - start:6.1f}s[/dim] {msg}"

    if not console.is_terminal:

        def step(msg: str) -> None:
            console.print(line(msg), highlight=False)

        yield step
        return
    with console.status("starting", spinner="dots") as status:

        def live_step(msg: str) -> None:
            console.print(line(msg), highlight=False)
            status.update(msg)

        yield live_step
    console.print(line("done"), highlight=False)


LOGGERS = ("mlflow", "alembic")
"""Loggers that attach their own terminal handlers; the root logger catches every other library."""


_ACTIVE: list = []
"""The handlers of the `library_output` blocks running now (innermost last)."""


def recapture() -> None:
    """Inside `library_output`, send MLflow's and alembic's loggers to its log file again.

    Importing MLflow (re)installs its own terminal handler; `churnkit.tracking` calls this after the import.
    """
    import logging

    if not _ACTIVE:
        return
    for name in LOGGERS:
        log = logging.getLogger(name)
        log.handlers = [_ACTIVE[-1]]
        log.propagate = False
        log.setLevel(logging.INFO)


@contextlib.contextmanager
def library_output(log_file: str | Path, *, show: Callable[[str], None] = lambda _m: None) -> Iterator[Path]:
    """Send library warnings and log lines (MLflow, alembic, lifetimes, ...) to ``log_file``, not the terminal.

    churnkit's own warnings (typed, e.g. `ConvergenceWarning`) are written there too and also passed to
    ``show`` as one line each. MLflow's artifact progress bars are switched off. Everything is restored on exit.
    """
    import logging
    import os
    import warnings

    path = Path(log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = []
    for name in ("", *LOGGERS):
        log = logging.getLogger(name)
        saved.append((log, list(log.handlers), log.propagate, log.level))
        log.handlers = [handler]
        log.propagate = name == ""
        log.setLevel(logging.INFO)
    raw = logging.getLogger("churnkit.library")
    _ACTIVE.append(handler)

    def to_log(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        text = f"{category.__name__}: {message} ({filename}:{lineno})"
        raw.warning(text)
        if category.__module__.startswith("churnkit"):
            show(f"warning: {message}")

    bar = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = to_log
            yield path
    finally:
        _ACTIVE.remove(handler)
        if bar is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = bar
        for log, handlers, propagate, level in saved:
            log.handlers = handlers
            log.propagate = propagate
            log.setLevel(level)
        handler.close()


@contextlib.contextmanager
def job_log(
    log_file: str | Path | None, name: str, *, show: Callable[[str], None] = lambda _m: None
) -> Iterator[Path]:
    """The library log of a job: ``log_file`` when the caller already sends library output there (the demo's
    log), else `library_output` into a temporary ``name`` that lives as long as the block."""
    if log_file is not None:
        yield Path(log_file)
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, library_output(Path(tmp) / name, show=show) as path:
        yield path
