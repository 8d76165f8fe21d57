"""Re-test an old scores file once its horizon has passed: the realized metrics beside the backtest's promise.

For a scores file made at as-of date D with horizon H, the outcome of each customer *in the file* is read
from the new transactions exactly as the training labels are (docs/design.md): churned = no purchase day in
[D, D + H) (returns aside), CLV for H = net revenue in [D, D + H), returns included. The metrics are the
docs/design.md names from `churnkit.models.metrics`, overall and by risk tier, value tier, segment, one-time vs
repeat buyers (from the history before D in the same data) and holdout group when the file has one.

"Did the model hold up" compares churn AUC, ECE and normalised CLV Gini with the backtest (`CHECKS`). A
campaign changes the outcomes of the customers it reached (it saves some predicted churners, which lowers
the realized AUC on purpose), so when the file has a control group of at least 100 customers the check is
made on the control group, the customers the campaign left alone; ``metrics`` always cover the whole file.

The file is refused (`HorizonNotPassedError`, exit 2) while its window is not fully observed: the last
transaction date must be at least D + H − 1.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnkit.errors import DataTooShortError, InputError
from churnkit.models.metrics import METRICS, churn_metrics, clv_metrics

__all__ = [
    "CHECKS",
    "Evaluation",
    "HorizonNotPassedError",
    "evaluate_scores",
    "horizon_end",
    "realized_outcomes",
    "report_dict",
    "scores_as_of",
]

_TOLERANCES = {"churn_auc": 0.03, "churn_ece": 0.03, "clv_gini_norm": 0.05}
CHECKS: dict[str, tuple[str, float]] = {
    # metric: (direction from the registry, tolerance). "higher": realized may be at most `tolerance` below.
    name: ("higher" if METRICS[name].higher_is_better else "lower", tolerance)
    for name, tolerance in _TOLERANCES.items()
}
"""What "the model held up" means: each realized metric within its tolerance of the backtest (or better)."""

_SPLITS = ("risk_tier", "value_tier", "segment", "buyer_type", "group")
_MIN_SPLIT = 30  # smaller groups are listed with their counts but no AUC
_MIN_CONTROL = 100  # a control group at least this big is the untouched test of the model's promise


class HorizonNotPassedError(DataTooShortError):
    """The scores file's future window [as_of, as_of + H) is not yet fully in the data."""

    def __init__(self, message: str, *, needed: dt.date):
        self.needed = needed
        super().__init__(message)


def scores_as_of(scores: pd.DataFrame) -> dt.date:
    """The single as-of date of a scores file."""
    for col in ("customer_id", "as_of", "churn_probability"):
        if col not in scores.columns:
            raise InputError(
                f"the scores file has no {col!r} column (is it a `churnkit score` output?)", column=col
            )
    dates = pd.to_datetime(scores["as_of"].astype(str), errors="coerce").dt.date.dropna().unique()
    if len(dates) != 1:
        raise InputError(f"the scores file should have one as_of date, found {len(dates)}", column="as_of")
    return dates[0]


def horizon_end(as_of: dt.date, horizon_days: int) -> dt.date:
    """The last day of the window [as_of, as_of + H): the data must reach it."""
    return as_of + dt.timedelta(days=horizon_days - 1)


def _check_passed(data: Any, as_of: dt.date, horizon_days: int) -> None:
    _, last = data.date_range()
    need = horizon_end(as_of, horizon_days)
    if last < need:
        raise HorizonNotPassedError(
            f"the {horizon_days}-day horizon of these scores (as of {as_of}) has not passed: the transactions end "
            f"on {last}; measuring it needs data up to {need} (run it on or after {need + dt.timedelta(days=1)})",
            needed=need,
        )


def realized_outcomes(
    data: Any, customer_ids: pd.Series, *, as_of: dt.date, horizon_days: int
) -> pd.DataFrame:
    """customer_id, churned, future_revenue, future_purchases, buyer_type for exactly these customers.

    ``buyer_type`` is ``one-time`` / ``repeat`` from distinct purchase days before as_of in ``data`` (empty
    when the data holds no history for the customer).
    """
    from churnkit.features import to_frame
    from churnkit.features._common import day_start

    tx = data.ibis("transactions")
    end = as_of + dt.timedelta(days=horizon_days)
    w = tx.filter((tx.timestamp >= day_start(as_of)) & (tx.timestamp < day_start(end)))
    w = w.mutate(day=w.timestamp.date())
    future = to_frame(
        w.group_by("customer_id").agg(
            future_revenue=w.amount.sum(), future_purchases=w.day.nunique(where=~w.is_return)
        )
    )
    h = tx.filter((tx.timestamp < day_start(as_of)) & ~tx.is_return)
    h = h.mutate(day=h.timestamp.date())
    history = to_frame(h.group_by("customer_id").agg(history_days=h.day.nunique()))
    out = pd.DataFrame({"customer_id": pd.Series(customer_ids).astype(str).to_numpy()})
    for part in (future, history):
        part["customer_id"] = part["customer_id"].astype(str)
    out = out.merge(future, on="customer_id", how="left").merge(history, on="customer_id", how="left")
    out["future_purchases"] = out["future_purchases"].fillna(0).astype(int)
    out["future_revenue"] = out["future_revenue"].fillna(0.0).astype(float)
    out["churned"] = (out["future_purchases"] == 0).astype(int)
    days = out.pop("history_days")
    out["buyer_type"] = np.where(days.isna(), "", np.where(days >= 2, "repeat", "one-time"))
    return out[["customer_id", "churned", "future_revenue", "future_purchases", "buyer_type"]]


def _clean(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def attributes(obj: Any, *names: str) -> dict[str, Any]:
    """``{name: obj.name}`` for the given names, in that order (the JSON fields of a result)."""
    return {name: getattr(obj, name) for name in names}


def report_dict(
    as_of: Any, horizon_days: int, fields: dict[str, Any], by_group: pd.DataFrame, notes: list[str]
) -> dict:
    """The JSON shape of `evaluate` and `evaluate-campaign`: as_of and horizon first, by_group and notes last.

    NaN and infinite numbers become None (JSON null), numpy numbers plain ones.
    """
    return _clean(
        {
            "as_of": str(as_of),
            "horizon_days": horizon_days,
            **fields,
            "by_group": by_group.to_dict(orient="records"),
            "notes": notes,
        }
    )


@dataclass
class Evaluation:
    """Realized metrics of one scores file, beside the backtest's (when known), and the verdict."""

    as_of: dt.date
    horizon_days: int
    customers: int
    metrics: dict[str, float]
    by_group: pd.DataFrame
    predicted_churn_rate: float
    realized_churn_rate: float
    backtest: dict[str, float] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    checked_on: str = "every customer in the file"
    held_up: bool | None = None
    notes: list[str] = field(default_factory=list)
    outcomes: pd.DataFrame | None = None

    def verdict(self) -> str:
        if self.held_up is None:
            return (
                "no backtest to compare with (give --model, the model or run that made these scores); "
                f"predicted churn rate {self.predicted_churn_rate:.1%}, realized {self.realized_churn_rate:.1%}"
            )
        parts = []
        for c in self.checks:
            parts.append(
                f"{c['metric']} {c['realized']:.3f} vs backtest {c['backtest']:.3f} "
                f"({'ok' if c['held'] else 'WORSE'} by the ±{c['tolerance']} rule)"
            )
        head = "the model held up" if self.held_up else "the model did NOT hold up"
        return f"{head} (checked on {self.checked_on}): " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        fields = attributes(self, "customers", "metrics", "backtest", "held_up", "checks", "checked_on")
        fields["verdict"] = self.verdict()
        fields |= attributes(self, "predicted_churn_rate", "realized_churn_rate")
        return report_dict(self.as_of, self.horizon_days, fields, self.by_group, self.notes)

    def lines(self) -> list[str]:
        out = [
            f"scores as of {self.as_of}, horizon {self.horizon_days} days: {self.customers:,} customers",
            f"churn rate predicted {self.predicted_churn_rate:.1%}, realized {self.realized_churn_rate:.1%}",
            f"  {'metric':<18} {'realized':>9} {'backtest':>9}",
        ]
        for name, value in self.metrics.items():
            bt = self.backtest.get(name, math.nan)
            out.append(f"  {name:<18} {value:9.4f} {bt:9.4f}")
        out.append(self.verdict())
        if not self.by_group.empty:
            with pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 3):
                out.append(self.by_group.to_string(index=False))
        out.extend(f"note: {n}" for n in self.notes)
        return out

    def to_html(self, campaign: Any = None) -> str:
        """The "After the campaign" page (`churnkit.report.evaluation_page`); ``campaign``: a CampaignResult."""
        from churnkit.report.evaluation_page import render_evaluation_page

        return render_evaluation_page(self, campaign)

    def write_html(self, path: str | Path, campaign: Any = None) -> Path:
        from churnkit.report.evaluation_page import write_evaluation_page

        return write_evaluation_page(self, path, campaign)


def _metrics(frame: pd.DataFrame) -> dict[str, float]:
    m = churn_metrics(frame["churned"], frame["churn_probability"])
    if "predicted_clv" in frame.columns:
        m.update(clv_metrics(frame["future_revenue"], frame["predicted_clv"]))
    return m


def _by_group(joined: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for col in _SPLITS:
        if col not in joined.columns:
            continue
        for level, part in joined.groupby(joined[col].astype(str), sort=True):
            if level in ("", "nan", "None"):
                continue
            row: dict[str, Any] = {
                "split": col,
                "level": level,
                "customers": len(part),
                "predicted_churn": float(part["churn_probability"].mean()),
                "realized_churn": float(part["churned"].mean()),
            }
            big = len(part) >= _MIN_SPLIT
            m = _metrics(part) if big else {}
            for name in ("churn_auc", "churn_brier", "churn_ece", "clv_mae", "clv_gini_norm"):
                row[name] = m.get(name, math.nan)
            if "predicted_clv" in part.columns:
                row["predicted_clv"] = float(part["predicted_clv"].mean())
            row["realized_revenue"] = float(part["future_revenue"].mean())
            rows.append(row)
    return pd.DataFrame(rows)


def evaluate_scores(
    scores: pd.DataFrame,
    data: Any,
    *,
    horizon_days: int = 90,
    backtest: dict[str, float] | None = None,
) -> Evaluation:
    """Realized metrics of ``scores`` on ``data`` (a ShopData holding [as_of, as_of + H)); see the module doc.

    ``backtest``: the metrics the model's own backtest reported (same names), for the verdict.
    """
    as_of = scores_as_of(scores)
    _check_passed(data, as_of, horizon_days)
    scores = scores.assign(customer_id=scores["customer_id"].astype(str))
    if scores["customer_id"].duplicated().any():
        raise InputError("the scores file has a customer_id more than once", column="customer_id")
    outcomes = realized_outcomes(data, scores["customer_id"], as_of=as_of, horizon_days=horizon_days)
    joined = scores.merge(outcomes, on="customer_id", how="left", validate="one_to_one")
    metrics = _metrics(joined)
    notes = []
    if (outcomes["buyer_type"] == "").all():
        notes.append("the transactions hold no history before the as-of date: no one-time / repeat split")
    if joined["churned"].nunique() < 2:
        notes.append("every customer in the file churned (or none did): churn AUC is undefined")
    backtest = {k: float(v) for k, v in (backtest or {}).items()}
    basis, checked = "every customer in the file", metrics
    if "group" in joined.columns:
        control = joined[joined["group"].astype(str) == "control"]
        if len(control) >= _MIN_CONTROL and control["churned"].nunique() == 2:
            basis = (
                f"the {len(control):,} control customers (the campaign changed the target group's outcomes)"
            )
            checked = _metrics(control)
    checks = []
    for name, (direction, tol) in CHECKS.items():
        r, b = checked.get(name, math.nan), backtest.get(name, math.nan)
        if not (math.isfinite(r) and math.isfinite(b)):
            continue
        held = r >= b - tol if direction == "higher" else r <= b + tol
        checks.append({"metric": name, "realized": r, "backtest": b, "tolerance": tol, "held": bool(held)})
    held_up = all(c["held"] for c in checks) if checks else None
    return Evaluation(
        as_of=as_of,
        horizon_days=horizon_days,
        customers=len(joined),
        metrics=metrics,
        by_group=_by_group(joined),
        predicted_churn_rate=float(joined["churn_probability"].mean()),
        realized_churn_rate=float(joined["churned"].mean()),
        backtest={k: v for k, v in backtest.items() if k in metrics},
        checks=checks,
        checked_on=basis,
        held_up=held_up,
        notes=notes,
        outcomes=joined,
    )
