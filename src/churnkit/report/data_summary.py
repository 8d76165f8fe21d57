"""The report's data summary: what was loaded, set aside and counted, as facts and a small load table.

Turns the run's summary (the loader's lines, the dates used, counts) into what the template shows; nothing
here reads files or knows about MLflow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from churnkit.report.formatting import Table, fmt_cell, fmt_pct, humanise, prepare_table

__all__ = ["data_summary"]


_LOAD = re.compile(r"^(?P<table>\w+): (?P<rows>[\d,]+) rows loaded from (?P<source>.+?)(?:; (?P<rest>.*))?$")
_COUNT = re.compile(r"^(?P<n>[\d,]+) (?P<what>.+?)(?: \(.*)?$")
_DONE = {
    "run_id",
    "as_of",
    "horizon_days",
    "test_as_of",
    "train_as_ofs",
    "final_as_ofs",
    "mode",
    "champion",
    "customers_scored",
    "training_rows",
    "btyd",
    "load",
    "notes",
    "champions",
    "evidence",
    "seasonal_as_ofs",
    "spacing_days",
    "backtest",
    "btyd_snapshots",
}


def _dates(values: Any) -> str:
    dates = [str(v) for v in values or []]
    if not dates:
        return ""
    return f"{len(dates)} dates, {min(dates)} to {max(dates)}" if len(dates) > 1 else dates[0]


def _load_table(lines: list[Any]) -> tuple[Table | None, int | None, list[str]]:
    """The load lines (one per input table) as a table; the rows set aside in total; lines that did not parse."""
    records, unparsed = [], []
    for line in lines:
        match = _LOAD.match(str(line))
        if not match:
            unparsed.append(str(line))
            continue
        rec: dict[str, Any] = {"table": match["table"], "rows_loaded": int(match["rows"].replace(",", ""))}
        rec |= {"duplicates_dropped": 0, "rows_set_aside": 0, "returns": 0}
        for part in (match["rest"] or "").split("; "):
            count = _COUNT.match(part)
            if not count:
                continue
            n, what = int(count["n"].replace(",", "")), count["what"]
            key = {
                "exact duplicates dropped": "duplicates_dropped",
                "rows set aside": "rows_set_aside",
                "returns": "returns",
            }.get(what.split(" →")[0].strip())
            if key:
                rec[key] = n
        rec["source"] = match["source"]
        records.append(rec)
    if not records:
        return None, None, unparsed
    frame = pd.DataFrame(records)
    table = prepare_table("Input tables", frame, header=humanise)
    return table, int(frame["rows_set_aside"].sum()), unparsed


def data_summary(
    summary: Mapping[str, Any], horizon_days: Any = None
) -> tuple[list[tuple[str, str]], Table | None]:
    """(term, value) pairs for a definition list, and the input tables' load counts as a small table."""
    facts: list[tuple[str, str]] = []
    get = summary.get
    if get("as_of"):
        facts.append(
            ("As-of date (D)", f"{get('as_of')}: the campaign numbers score the customer base on this day")
        )
    if horizon_days:
        facts.append(("Horizon (H)", f"{horizon_days} days: churn = no purchase in [D, D + H)"))
    if get("test_as_of"):
        facts.append(
            (
                "Backtest snapshot",
                f"{get('test_as_of')}: the model was trained on earlier data and "
                "judged on what these customers did next (the metrics above)",
            )
        )
    if get("train_as_ofs"):
        facts.append(("Training snapshots (backtest)", _dates(get("train_as_ofs"))))
    if get("final_as_ofs"):
        facts.append(("Training snapshots (final model)", _dates(get("final_as_ofs"))))
    for first, last in (("first_timestamp", "last_timestamp"), ("first_date", "last_date")):
        if get(first) and get(last):
            facts.append(("Data dates", f"{str(get(first))[:10]} to {str(get(last))[:10]}"))
    btyd = get("btyd") if isinstance(get("btyd"), Mapping) else {}
    scored = get("customers_scored", btyd.get("n_customers"))
    if scored is not None:
        text = f"{int(scored):,}"
        repeat = btyd.get("n_repeat_customers")
        if repeat is not None and btyd.get("n_customers"):
            n = int(btyd["n_customers"])
            text += (
                f" — one-time buyers {n - int(repeat):,} ({fmt_pct((n - int(repeat)) / n)}), "
                f"repeat buyers {int(repeat):,} ({fmt_pct(int(repeat) / n)})"
            )
        facts.append(("Customers in the base at D", text))
    if get("training_rows") is not None:
        facts.append(("Training rows", f"{int(get('training_rows')):,} (customer × snapshot)"))
    if get("evidence") == "customer_holdout":
        facts.append(
            (
                "Backtest evidence",
                "customers held out of training at the backtest snapshot (the history is too short for a "
                "later test period): no customer's future was trained on, but the test is not later in time",
            )
        )
    if get("seasonal_as_ofs"):
        facts.append(("Snapshots a year earlier (season)", _dates(get("seasonal_as_ofs"))))
    kind = {
        "boosted": "gradient-boosted (LightGBM), starting from the BTYD prediction",
        "btyd": "BTYD family alone (BG/NBD and Gamma-Gamma)",
    }
    champions = get("champions") if isinstance(get("champions"), Mapping) else {}
    if champions:
        facts.append(("Churn model used", kind.get(str(champions.get("churn")), str(champions.get("churn")))))
        facts.append(("CLV model used", kind.get(str(champions.get("clv")), str(champions.get("clv")))))
    elif get("champion"):
        facts.append(("Churn model used", kind.get(str(get("champion")), str(get("champion")))))
    snapshots = get("btyd_snapshots") if isinstance(get("btyd_snapshots"), Mapping) else {}
    problems = [
        f"{d}: {o['message']}" for d, o in snapshots.items() if isinstance(o, Mapping) and o.get("message")
    ]
    if snapshots:
        facts.append(
            (
                "BTYD fits per snapshot",
                f"{len(snapshots)} fits, {len(problems)} with a boundary, fallback or failure"
                + ("".join(f"; {p}" for p in problems[:5])),
            )
        )
    if btyd:
        label = {"bgnbd": "BG/NBD", "pareto": "Pareto/NBD", "mbgnbd": "MBG/NBD"}.get(
            str(btyd.get("model")), str(btyd.get("model", ""))
        )
        parts = [f"{label} + Gamma-Gamma" if label else "BTYD"]
        if "converged" in btyd:
            parts.append("converged" if btyd["converged"] else "did not converge")
        if "penalizer" in btyd:
            parts.append(f"penalizer {btyd['penalizer']}")
        if btyd.get("retries"):
            parts.append(f"{btyd['retries']} retries")
        parts += [str(w) for w in btyd.get("warnings") or []]
        facts.append(("BTYD fit", "; ".join(parts)))
    loads, set_aside, unparsed = _load_table(list(get("load") or []))
    if set_aside is not None:
        facts.append(("Rows set aside", f"{set_aside:,} in total (see the input tables below)"))
    facts += [("Input", line) for line in unparsed]
    for key, value in summary.items():
        if key in _DONE or key in ("first_timestamp", "last_timestamp", "first_date", "last_date"):
            continue
        if isinstance(value, Mapping):
            flat = "; ".join(
                f"{humanise(k).lower()} {fmt_cell(v, str(k))}"
                for k, v in value.items()
                if not isinstance(v, Mapping | list)
            )
            facts.append((humanise(key), flat))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            continue  # a list of records is too detailed for the summary
        elif not (isinstance(value, float) and np.isnan(value)):
            facts.append((humanise(key), fmt_cell(value, key)))
    return facts, loads
