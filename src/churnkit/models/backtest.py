"""The backtest: the candidate models against the baselines on the test snapshot, and the champion choice.

Candidates are the boosted models (fitted on the training snapshots only), the recency baseline (fitted on the
same training rows) and BTYD alone (the test snapshot's own BTYD columns, fitted on its history). All are
scored on the same test rows, overall and split by buyer type (``_one_time``, ``_repeat``), with the metric
names of docs/design.md (prefixes ``boosted_``, ``baseline_recency_``, ``baseline_btyd_``). The champion of each
target is chosen separately, by a pure rule (:func:`choose_champions`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnkit.errors import ModelError
from churnkit.models.baselines import RecencyBaseline
from churnkit.models.churnkit_model import BoostedModels
from churnkit.models.metrics import churn_metrics, clv_metrics

__all__ = [
    "CHAMPION_METRICS",
    "HOLDOUT_CUSTOMER_SHARE",
    "Backtest",
    "can_train_boosted",
    "champion_view",
    "choose_champions",
    "evaluate",
    "held_out_customers",
    "split_customers",
]

HOLDOUT_CUSTOMER_SHARE = 0.2
"""Share of customers held out of training when the backtest cannot be time-based (a short history)."""

CHAMPION_METRICS = {"churn": "churn_auc", "clv": "clv_gini_norm"}
"""The backtest metric that chooses each target's champion (both rank customers, as campaigns do)."""

CANDIDATES = ("baseline_recency", "baseline_btyd", "boosted")
"""The models every backtest scores, by metric prefix (without the trailing underscore)."""


@dataclass
class Backtest:
    """The backtest: metrics (docs/design.md names), the test snapshot's predictions and the champion per target.

    ``evidence`` says what the test is: ``time`` (training label windows end before the test snapshot) or
    ``customer_holdout`` (a short history: customers held out of training at the latest labelled snapshot).
    """

    test_as_of: dt.date | None
    train_as_ofs: list[dt.date]
    metrics: dict[str, float]
    predictions: pd.DataFrame
    champions: dict[str, str]
    evidence: str = "time"
    notes: list[str] = field(default_factory=list)

    @property
    def champion(self) -> str:
        """The churn champion (``boosted`` or ``btyd``); the CLV one is ``champions["clv"]``."""
        return self.champions["churn"]


def held_out_customers(
    customer_ids: pd.Series, *, seed: int, share: float = HOLDOUT_CUSTOMER_SHARE
) -> np.ndarray:
    """Boolean mask: a seeded, stable hash split of customer ids (the same customer is held out at every date)."""
    keys = pd.util.hash_pandas_object(
        customer_ids.astype(str), index=False, hash_key=f"churnkit{seed:08d}"[:16]
    )
    return (keys.to_numpy(dtype=np.uint64) % np.uint64(10_000)) < np.uint64(round(share * 10_000))


def split_customers(
    test: pd.DataFrame, train: pd.DataFrame, *, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customer hold-out backtest (a short history): the held-out customers of the test snapshot, and
    the training rows of every other customer."""
    test = test[held_out_customers(test["customer_id"], seed=seed)].reset_index(drop=True)
    train = train[~held_out_customers(train["customer_id"], seed=seed)].reset_index(drop=True)
    return test, train


def can_train_boosted(train: pd.DataFrame) -> bool:
    """Whether the training rows support the boosted models: at least 8 rows, churners and non-churners, and
    some future revenue."""
    return (
        not train.empty
        and len(train) >= 8
        and train["churned"].nunique() == 2
        and bool((train["future_revenue"] > 0).any())
    )


def evaluate(
    test: pd.DataFrame, train: pd.DataFrame, boosted: BoostedModels | None, *, horizon_days: int
) -> tuple[dict[str, float], pd.DataFrame]:
    """Metrics of the boosted models and both baselines on the same test rows, overall and by buyer type,
    and the per-row predictions (columns ``<candidate>_churn`` and ``<candidate>_clv``).

    The recency baseline is fitted on the training rows only; without training rows (or with one churn class
    only) it is not reported: fitting it on the test rows would be an in-sample score. A split with fewer
    than 10 rows, or a candidate with a missing prediction in it, is not reported.
    """
    y = test["churned"].astype(int).to_numpy()
    rev = test["future_revenue"].to_numpy(dtype=float)
    pred = pd.DataFrame(
        {
            "customer_id": test["customer_id"],
            "as_of": test["as_of"],
            "churned": y,
            "future_revenue": rev,
            "is_repeat": (test["frequency"] > 0).to_numpy(),
        }
    )
    if not train.empty and train["churned"].nunique() == 2:
        recency = RecencyBaseline().fit(train, train["churned"])
        pred["baseline_recency_churn"] = recency.predict_proba(test)
        pred["baseline_recency_clv"] = recency.predict_clv(test, horizon_days=horizon_days)
    pred["baseline_btyd_churn"] = test["p_no_purchase"].to_numpy()
    pred["baseline_btyd_clv"] = (test["expected_purchases"] * test["expected_spend"]).to_numpy()
    if boosted is not None:
        X = test[boosted.columns]
        if boosted.churn is not None:
            pred["boosted_churn"] = boosted.churn.predict_proba(X)
        if boosted.clv is not None:
            pred["boosted_clv"] = boosted.clv.predict(X)
    metrics: dict[str, float] = {}
    splits = {
        "": np.ones(len(pred), bool),
        "_one_time": ~pred["is_repeat"].to_numpy(),
        "_repeat": pred["is_repeat"].to_numpy(),
    }
    for suffix, mask in splits.items():
        sub = pred[mask]
        if len(sub) < 10:
            continue
        for name in CANDIDATES:
            prefix = f"{name}_"
            m: dict[str, float] = {}
            churn_col, clv_col = f"{name}_churn", f"{name}_clv"
            if churn_col in sub and sub[churn_col].notna().all():
                m.update(churn_metrics(sub["churned"], sub[churn_col], prefix=prefix))
            if clv_col in sub and sub[clv_col].notna().all():
                m.update(clv_metrics(sub["future_revenue"], sub[clv_col], prefix=prefix))
            metrics.update({k + suffix: float(v) for k, v in m.items()})
    return metrics, pred


def choose_champions(
    metrics: dict[str, float], choice: dict[str, str], *, boosted: dict[str, bool], btyd: bool
) -> tuple[dict[str, str], list[str]]:
    """The model that scores each target, and one plain line per decision worth saying.

    ``choice`` is ``models.champion`` per target (best | boosted | btyd); ``boosted`` says per target whether
    a boosted model was trained, ``btyd`` whether a BTYD model exists at the as-of date. ``best`` picks the
    boosted model when its backtest metric is at least the BTYD one's (or either is missing).
    """
    champions: dict[str, str] = {}
    notes: list[str] = []
    for target, metric in CHAMPION_METRICS.items():
        b = metrics.get(f"boosted_{metric}", np.nan)
        base = metrics.get(f"baseline_btyd_{metric}", np.nan)
        want = choice[target]
        if not boosted[target]:
            if not btyd:
                raise ModelError(
                    f"no {target} model could be trained: neither the boosted model nor any BTYD model"
                )
            champions[target] = "btyd"
            if want == "boosted":
                notes.append(f"{target}: the boosted model could not be trained; BTYD scores {target}.")
            continue
        if not btyd:
            champions[target] = "boosted"
            if want == "btyd":
                notes.append(
                    f"{target}: no BTYD model fitted at the as-of date; the boosted model scores {target}."
                )
            continue
        if want == "best":
            champions[target] = "boosted" if not (b < base) else "btyd"
            if champions[target] == "btyd":
                notes.append(
                    f"{target}: the boosted model ({metric} {b:.3f}) did not beat BTYD ({base:.3f}); BTYD scores "
                    f"{target} (models.champion.{target}: best)."
                )
        else:
            champions[target] = want
            if want == "boosted" and b < base:
                notes.append(
                    f"{target}: the boosted model ({metric} {b:.3f}) is below BTYD ({base:.3f}) but the config forces it."
                )
    return champions, notes


def champion_view(
    metrics: dict[str, float], predictions: pd.DataFrame, champions: dict[str, str]
) -> tuple[dict[str, float], pd.DataFrame]:
    """The metrics and predictions with the champions' under the plain names (``churn_auc``, ...,
    ``churn_probability``, ``predicted_clv``) beside the prefixed ones of every candidate."""
    metrics, predictions = dict(metrics), predictions.copy()
    for target, champ in champions.items():
        col = "boosted" if champ == "boosted" else "baseline_btyd"
        for k in list(metrics):
            if k.startswith(f"{col}_{target}"):
                metrics[k[len(col) + 1 :]] = metrics[k]
        name = "churn_probability" if target == "churn" else "predicted_clv"
        predictions[name] = predictions[f"{col}_{target}"]
    return metrics, predictions
