"""`library_output`: library warnings and log lines go to a file; churnkit's own warnings are also shown."""

from __future__ import annotations

import logging
import warnings

from churnkit.models.btyd import ConvergenceWarning
from churnkit.progress import library_output


def test_library_lines_go_to_the_file_and_churnkit_warnings_are_shown(tmp_path, capsys):
    shown: list[str] = []
    mlflow_log = logging.getLogger("mlflow")
    before = (list(mlflow_log.handlers), mlflow_log.propagate, mlflow_log.level)
    with library_output(tmp_path / "logs" / "train.log", show=shown.append) as path:
        warnings.warn("a third-party notice", UserWarning, stacklevel=1)
        warnings.warn("Gamma-Gamma refitted with penalizer 0.001", ConvergenceWarning, stacklevel=1)
        logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database tables...")
        logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
        logging.getLogger("lifetimes").warning("some library warning")
    text = path.read_text()
    for line in (
        "a third-party notice",
        "Gamma-Gamma refitted",
        "Creating initial MLflow",
        "SQLiteImpl",
        "some library",
    ):
        assert line in text, line
    assert shown == ["warning: Gamma-Gamma refitted with penalizer 0.001"]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert (list(mlflow_log.handlers), mlflow_log.propagate, mlflow_log.level) == before
