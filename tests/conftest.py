"""Shared fixtures: a CLI runner that keeps stdout and stderr apart."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from churnkit.cli import app


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str):  # type: ignore[no-untyped-def]
        return self.runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture(autouse=True)
def _isolated_tracking(tmp_path, monkeypatch):
    """Every test runs in its own folder, so `sqlite:///mlflow.db` and outputs never leak between tests."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
