"""The load rules are declared once (`churnkit.data.rules`) and the engines only translate them."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import churnkit
from churnkit.config import load_config
from churnkit.data import rules
from churnkit.data.load import ShopData, load_shop
from churnkit.data.shop import Shop
from churnkit.errors import InputError

ENGINES = Path(churnkit.__file__).parent / "engines"
HEADER = "customer_id,timestamp,amount\n"


def test_a_row_gets_the_reason_of_its_first_failed_check(tmp_path):
    # row 1: no id and a bad timestamp and a bad amount; row 2: bad timestamp and bad amount; row 3: bad amount
    tx = tmp_path / "tx.csv"
    tx.write_text(HEADER + ",nope,x\n2,nope,x\n3,2024-01-01,x\n4,2024-01-02,5\n")
    data = load_shop(tx)
    assert data.report.tables["transactions"].rejected == {
        "missing customer_id": 1,
        "unparseable timestamp": 1,
        "non-numeric amount": 1,
    }


def test_the_reasons_come_from_the_rules(tmp_path, monkeypatch):
    """Rename a check's reason in the rules: the DuckDB loader reports the new text (nothing hard-coded)."""
    renamed = tuple(
        dataclasses.replace(c, reason="no amount at all") if c.reason == "missing amount" else c
        for c in rules.TRANSACTIONS.checks
    )
    monkeypatch.setitem(rules.RULES, "transactions", dataclasses.replace(rules.TRANSACTIONS, checks=renamed))
    tx = tmp_path / "tx.csv"
    tx.write_text(HEADER + "1,2024-01-01,\n2,2024-01-02,5\n")
    assert load_shop(tx).report.tables["transactions"].rejected == {"no amount at all": 1}


def test_a_column_made_required_in_the_rules_is_required(tmp_path, monkeypatch):
    columns = tuple(
        dataclasses.replace(c, required=True) if c.name == "channel" else c
        for c in rules.TRANSACTIONS.columns
    )
    monkeypatch.setitem(rules.RULES, "transactions", dataclasses.replace(rules.TRANSACTIONS, columns=columns))
    tx = tmp_path / "tx.csv"
    tx.write_text(HEADER + "1,2024-01-01,5\n")
    with pytest.raises(InputError, match="required column 'channel' not found; columns present: customer_id"):
        load_shop(tx)


def test_amount_from_swaps_the_amount_checks():
    spec = load_config(
        None, **{"inputs.transactions.amount_from": {"quantity": "q", "unit_price": "p"}}
    ).inputs.transactions
    reasons = rules.table_rules("transactions", spec).reasons
    assert reasons == [
        "missing customer_id",
        "missing timestamp",
        "unparseable timestamp",
        rules.OUT_OF_RANGE,
        "non-numeric quantity",
        "non-numeric unit price",
    ]
    assert (
        "missing amount" in rules.table_rules("transactions", load_config(None).inputs.transactions).reasons
    )


def _string_constants(path: Path) -> set[str]:
    """The string literals of a module, without its docstrings (prose may name a reason)."""
    tree = ast.parse(path.read_text())
    prose = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in prose
    }


def test_no_engine_module_spells_a_reason_or_a_required_column_message():
    texts = [r for table in rules.RULES.values() for r in table.reasons] + [
        "non-numeric quantity",
        "non-numeric unit price",
        rules.TOO_MANY_FIELDS,
        rules.TOO_FEW_FIELDS,
        rules.UNBALANCED_QUOTE,
        rules.LINE_TOO_LONG,
        rules.MALFORMED_LINE,
        "every line is malformed",
    ]
    for module in sorted(ENGINES.glob("*.py")):
        constants = _string_constants(module)
        spelled = [t for t in texts if any(t in c for c in constants)]
        assert not spelled, f"{module.name} spells {spelled}"
        assert not any("required column" in c for c in constants), module.name


def test_the_duckdb_shop_is_a_shop(tmp_path):
    tx = tmp_path / "tx.csv"
    tx.write_text(HEADER + "1,2024-01-01,5\n")
    data = load_shop(tx)
    assert isinstance(data, ShopData) and isinstance(data, Shop)


def test_the_spark_tests_fail_rather_than_skip_without_pyspark():
    """`make test` without the spark extra must fail loudly, not pass with the Spark tests skipped."""
    root = Path(__file__).parents[2]
    code = (
        "import sys, pytest\n"
        "sys.modules['pyspark'] = None\n"  # as if pyspark were not installed
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '--collect-only', 'tests/spark/test_cli.py']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False)
    assert done.returncode not in (0, 5), done.stdout  # 5: nothing collected (skipped)
    assert "the spark tests need churnkit[spark]" in done.stdout + done.stderr


def test_no_engine_module_shadows_an_installed_package():
    """spark-submit runs engines/spark_batch.py as a script, with engines/ first on sys.path: a module there
    named like a package (duckdb.py) would be imported in its place."""
    import importlib.util

    shadowing = [m.name for m in ENGINES.glob("*.py") if importlib.util.find_spec(m.stem) is not None]
    assert not shadowing, shadowing
