"""Shared fixtures: a CLI runner that keeps stdout and stderr apart, and the finite-metric check."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

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


def assert_finite_metric(
    value: object, name: str = "metric", *, low: float = -math.inf, high: float = math.inf
) -> float:
    """Fail unless ``value`` is a finite number in [low, high]; return it as a float.

    A NaN passes every check written as ``not (x < y)`` and every ``isinstance(x, float)``; metric checks go
    through here first so a metric that silently became NaN (or infinite) fails.
    """
    assert isinstance(value, numbers.Real) and not isinstance(value, bool), (
        f"{name} is not a number: {value!r}"
    )
    assert math.isfinite(value), f"{name} is not finite: {value!r}"
    assert low <= value <= high, f"{name} = {value!r} outside [{low}, {high}]"
    return float(value)


@pytest.fixture
def finite_metric() -> Callable[..., float]:
    """:func:`assert_finite_metric`, as a fixture (tests run with ``--import-mode=importlib``)."""
    return assert_finite_metric
