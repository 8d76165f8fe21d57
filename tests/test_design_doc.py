"""docs/design.md is the contract the code cites: its metric table and command list follow the code."""

from __future__ import annotations

import re
from pathlib import Path

from churnkit.cli import app
from churnkit.models.metrics import METRICS

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "design.md"


def _metric_rows() -> dict[str, list[str]]:
    text = DESIGN.read_text(encoding="utf-8")
    section = text.split("## Metric names", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`\w+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_registry_metric_is_in_the_design_table_with_its_label_direction_and_meaning():
    rows = _metric_rows()
    assert list(rows) == list(METRICS)  # same names, same order, nothing extra
    for name, metric in METRICS.items():
        label, better, meaning = rows[name]
        assert label == metric.label, name
        assert better == ("higher" if metric.higher_is_better else "lower"), name
        assert meaning == metric.description, name


def test_every_command_is_in_the_design_command_table():
    text = DESIGN.read_text(encoding="utf-8")
    section = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z-]+)[ `]", section, flags=re.M))
    commands = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    assert documented == commands
