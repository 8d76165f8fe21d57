"""Training end to end, without MLflow or the CLI: plan snapshots, backtest, choose, fit the final model.

`train` plans its snapshots (churnkit.features.snapshots: the one scheduler and its leakage rule), runs the
backtest (churnkit.models.backtest: boosted models against the recency and BTYD baselines, on the same rows),
chooses the champion of each target separately (churn by churn_auc, CLV by clv_gini_norm) and fits the final
`ChurnkitModel` (churnkit.models.churnkit_model) on every labelled snapshot up to the as-of date and on the
customer base at that date.

No BTYD fit failure stops a run: each snapshot's BTYD fit goes through a fallback chain, and a snapshot where
every BTYD model fails keeps its BTYD columns missing (NaN) for the boosted models.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from churnkit.config import Config
from churnkit.data.load import ShopData
from churnkit.errors import DataTooShortError
from churnkit.features.purchases import distinct_channels
from churnkit.features.snapshots import Schedule, months_not_learned, schedule
from churnkit.features.training import snapshot_table
from churnkit.models.backtest import (
    Backtest,
    can_train_boosted,
    champion_view,
    choose_champions,
    evaluate,
    split_customers,
)
from churnkit.models.churnkit_model import BOOSTED, ChurnkitModel, fit_boosted
from churnkit.models.training_tables import MIN_SNAPSHOT_CUSTOMERS, SnapshotTables

__all__ = ["Backtest", "ChurnkitModel", "TrainResult", "train"]
# ChurnkitModel stays importable from here: models saved before it moved name churnkit.pipeline.ChurnkitModel.

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


@dataclass
class TrainResult:
    model: ChurnkitModel
    backtest: Backtest
    mode: str  # "boosted" or "btyd_only"
    notes: list[str]
    summary: dict[str, Any]
    scores: pd.DataFrame


def train(data: ShopData, cfg: Config, *, progress: Progress | None = None) -> TrainResult:
    """Backtest, then fit the final model on all labelled snapshots and score the base at the as-of date."""
    progress = progress or _noop
    first, last = data.date_range()
    as_of = cfg.as_of or (last + dt.timedelta(days=1))
    h = cfg.horizon_days
    if as_of <= first or as_of > last + dt.timedelta(days=1 + h):
        raise DataTooShortError(
            f"as-of date {as_of} is outside the data ({first} to {last}); choose a date after the first purchase"
        )
    plan = _plan(cfg, first, last, as_of)
    notes: list[str] = list(plan.notes)
    progress(plan.describe())
    settings = _settings(cfg, distinct_channels(data.ibis("transactions"), as_of))
    snaps = SnapshotTables(
        data,
        horizon_days=h,
        feature_settings=settings["feature_settings"],
        btyd_settings=settings["btyd_settings"],
        progress=progress,
    )

    # backtest: boosted models fitted on the training snapshots, scored with the baselines on the test one
    test = snaps.get(plan.test)
    if len(test) < MIN_SNAPSHOT_CUSTOMERS:
        raise DataTooShortError(f"only {len(test)} customers in the base at the test snapshot {plan.test}")
    train_table = snaps.stack(plan.train)
    if plan.evidence == "customer_holdout" and not train_table.empty:
        test, train_table = split_customers(test, train_table, seed=cfg.training.seed)
    boosted_possible = can_train_boosted(train_table)
    mode = "boosted" if boosted_possible else "btyd_only"
    candidates = None
    if boosted_possible:
        progress(
            f"backtest: fitting boosted models on {len(train_table):,} rows from {len(plan.train)} snapshots"
        )
        candidates = fit_boosted(
            train_table, targets=BOOSTED, btyd_settings=settings["btyd_settings"], seed=settings["seed"]
        )
    else:
        notes.append(
            f"No labelled training snapshot with both churners and buyers before {plan.test} (H = {h} days): "
            "trained the BTYD family only."
        )
    metrics, predictions = evaluate(test, train_table, candidates, horizon_days=h)

    # final model: every labelled snapshot up to the as-of date, BTYD on the base at the as-of date
    final_table = snaps.stack(plan.final) if boosted_possible else train_table
    progress(f"final fit and scoring at {as_of}")
    base = snapshot_table(data, as_of, **settings["feature_settings"])
    if base.empty:
        raise DataTooShortError(f"no customer has a purchase before {as_of}: empty customer base")
    final_ok = boosted_possible and final_table["churned"].nunique() == 2
    trained = {"churn": final_ok, "clv": final_ok}
    choice = cfg.models.champion.model_dump()
    # the champions if BTYD fits on the base; the model falls back to the boosted ones where it does not
    planned, _ = choose_champions(metrics, choice, boosted=trained, btyd=True)
    model = ChurnkitModel(**settings, champions=planned)
    model.fit(final_table if not final_table.empty else test, base=base)
    champions, champion_notes = choose_champions(
        metrics, choice, boosted=trained, btyd=model.btyd_ is not None
    )
    snaps.outcomes[f"{as_of} (scoring)"] = model.btyd_outcome_
    notes += champion_notes
    notes += _btyd_problem_lines(snaps.outcomes)
    notes += _seasonal_notes(plan, first, as_of, h)
    metrics, predictions = champion_view(metrics, predictions, champions)
    backtest = Backtest(plan.test, list(plan.train), metrics, predictions, champions, plan.evidence, notes)

    scores = model.score_features(base)
    summary = {
        "as_of": str(as_of),
        "horizon_days": h,
        "test_as_of": str(plan.test),
        "evidence": plan.evidence,
        "train_as_ofs": [str(d) for d in plan.train],
        "final_as_ofs": [str(d) for d in plan.final],
        "seasonal_as_ofs": [str(d) for d in plan.seasonal],
        "spacing_days": plan.spacing_days,
        "backtest": plan.describe(),
        "mode": mode,
        "champion": champions["churn"],
        "champions": champions,
        "customers_scored": len(scores),
        "training_rows": len(final_table),
        "btyd": model.btyd_outcome_,
        "btyd_snapshots": snaps.outcomes,
    }
    return TrainResult(model, backtest, mode, notes, summary, scores)


def _plan(cfg: Config, first: dt.date, last: dt.date, as_of: dt.date) -> Schedule:
    """The snapshot dates of the run (churnkit.features.snapshots), or DataTooShortError without a test one."""
    t, h = cfg.training, cfg.horizon_days
    plan = schedule(
        first,
        last,
        as_of,
        horizon_days=h,
        n_snapshots=t.n_snapshots,
        spacing_days=t.spacing_days,
        min_history_days=t.min_history_days,
        seasonal=t.seasonal,
    )
    if plan.test is None:
        raise DataTooShortError(
            f"the data ({first} to {last}) is too short to learn a {h}-day horizon at {as_of}: a labelled snapshot "
            f"needs {t.min_history_days} days of history (training.min_history_days) plus {h} observed days; "
            "use a shorter --horizon or a later --as-of"
        )
    return plan


def _seasonal_notes(plan: Schedule, first: dt.date, as_of: dt.date, h: int) -> list[str]:
    """A note when the horizon holds months no training label window covers (history under a year)."""
    unseen = months_not_learned(as_of, h, plan.final)
    if not unseen or (plan.observed_end - first).days >= 365 + h:
        return []
    names = ", ".join(dt.date(2000, m, 1).strftime("%b") for m in unseen)
    return [
        f"The horizon [{as_of}, {as_of + dt.timedelta(days=h)}) holds months ({names}) that no training label "
        "window covers (history under a year): a seasonal peak there is not learned, so expect the "
        "calibration to be off."
    ]


def _btyd_problem_lines(outcomes: dict[str, dict[str, Any]]) -> list[str]:
    """One plain line per snapshot whose BTYD fit needed a boundary, a fallback or failed."""
    lines = []
    for date, o in outcomes.items():
        msg = o.get("message")
        if msg:
            lines.append(f"BTYD at {date}: {msg}")
    return lines


def _settings(cfg: Config, channels: list[str]) -> dict[str, Any]:
    return {
        "horizon_days": cfg.horizon_days,
        "feature_settings": _feature_settings(cfg, channels),
        "btyd_settings": {
            "model": cfg.models.btyd,
            "penalizer": cfg.models.penalizer,
            "spend_penalizer": cfg.models.spend_penalizer,
            "clv_months": cfg.models.clv_months,
            "annual_discount_rate": cfg.models.annual_discount_rate,
            "calibration": cfg.models.calibration,
            "clv_objective": cfg.models.clv_objective,
            "reasons": cfg.models.reasons,
            "prior": cfg.models.prior,
        },
        "save_rate": cfg.targeting.save_rate,
        "segment_settings": cfg.segments.model_dump(),
        "seed": cfg.training.seed,
    }


def _feature_settings(cfg: Config, channels: list[str]) -> dict[str, Any]:
    """One fixed feature set for every snapshot and for scoring (channels taken once, at the as-of date)."""
    return {
        "windows": tuple(cfg.features.windows),
        "session_gap_minutes": cfg.features.session_gap_minutes,
        "channels": list(channels),
    }
