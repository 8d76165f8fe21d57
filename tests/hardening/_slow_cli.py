"""Run the churnkit CLI with test hooks that make races and interrupts land where a test wants them.

    python tests/hardening/_slow_cli.py ARGS...        (the same arguments as `churnkit ARGS...`)

Each hook is switched on by an environment variable; without any, this is plain ``churnkit.cli.main``.

- ``CHURNKIT_TEST_MARKER=<file>`` — slow writes. A table written to a temporary ``*.tmp`` file (``write_table``
  via ``atomic_path``) is written half, then the marker file is created, then the process sleeps
  (``CHURNKIT_TEST_PAUSE`` seconds) before writing the rest. A folder copied to a ``*.partial`` folder (the
  local model export of ``train``) gets two files copied, then the marker, then the sleep, then the rest.
  The marker holds the path being written.
- ``CHURNKIT_TEST_SLOW_SQL=<prefix>`` (with ``CHURNKIT_TEST_MARKER``) — before running a DuckDB statement that
  starts with ``<prefix>``, create the marker and run a long CPU-bound query on the same connection, so a
  signal arrives while DuckDB is executing.
- ``CHURNKIT_TEST_BARRIER=<folder>:<n>`` — `train` waits before logging its MLflow run until ``n`` processes
  have reached that point (each touches a file in ``<folder>``), so concurrent runs meet the store together.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

PAUSE = float(os.environ.get("CHURNKIT_TEST_PAUSE", "120"))


def _marker() -> Path:
    return Path(os.environ["CHURNKIT_TEST_MARKER"])


def _mark(what: object) -> None:
    """Create the marker with its content in one step (a test may read it the moment it appears)."""
    tmp = _marker().with_name(_marker().name + ".writing")
    tmp.write_text(str(what))
    os.replace(tmp, _marker())


def _pause(what: object) -> None:
    _mark(what)
    time.sleep(PAUSE)


def install_slow_writes() -> None:
    import pandas as pd

    to_csv, copytree = pd.DataFrame.to_csv, shutil.copytree

    def slow_to_csv(self, path_or_buf=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(path_or_buf, str | os.PathLike) and str(path_or_buf).endswith(".tmp") and len(self) > 1:
            half = len(self) // 2
            to_csv(self.iloc[:half], path_or_buf, *args, **kwargs)
            _pause(path_or_buf)
            to_csv(self.iloc[half:], path_or_buf, *args, mode="a", header=False, **kwargs)
            return None
        return to_csv(self, path_or_buf, *args, **kwargs)

    def slow_copytree(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(dst).endswith(".partial"):
            copied = 0

            def copy(s, d, *, follow_symlinks=True):  # type: ignore[no-untyped-def]
                nonlocal copied
                out = shutil.copy2(s, d, follow_symlinks=follow_symlinks)
                copied += 1
                if copied == 2:
                    _pause(dst)
                return out

            kwargs["copy_function"] = copy
        return copytree(src, dst, *args, **kwargs)

    pd.DataFrame.to_csv = slow_to_csv
    shutil.copytree = slow_copytree


def install_slow_sql(prefix: str) -> None:
    import duckdb

    sql = duckdb.DuckDBPyConnection.sql

    def slow_sql(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(query, str) and query.lstrip().startswith(prefix):
            _mark(query[:200])
            # minutes of work; a CREATE runs at once and DuckDB checks for interrupts while it runs
            sql(
                self,
                "CREATE OR REPLACE TEMP TABLE _slow AS SELECT sum(hash(i)) AS h FROM range(100000000000) t(i)",
            )
        return sql(self, query, *args, **kwargs)

    duckdb.DuckDBPyConnection.sql = slow_sql


def install_barrier(spec: str) -> None:
    import churnkit.tracking.runs as runs

    folder, n = spec.rsplit(":", 1)
    log_training_run = runs.log_training_run

    def wait_then_log(*args, **kwargs):  # type: ignore[no-untyped-def]
        Path(folder, str(os.getpid())).touch()
        deadline = time.monotonic() + 600
        while len(list(Path(folder).iterdir())) < int(n) and time.monotonic() < deadline:
            time.sleep(0.01)
        return log_training_run(*args, **kwargs)

    runs.log_training_run = wait_then_log


if __name__ == "__main__":
    if os.environ.get("CHURNKIT_TEST_SLOW_SQL"):
        install_slow_sql(os.environ["CHURNKIT_TEST_SLOW_SQL"])
    elif os.environ.get("CHURNKIT_TEST_MARKER"):
        install_slow_writes()
    if os.environ.get("CHURNKIT_TEST_BARRIER"):
        install_barrier(os.environ["CHURNKIT_TEST_BARRIER"])

    from churnkit.cli import main

    sys.argv[0] = "churnkit"
    main()
