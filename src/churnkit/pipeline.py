"""Training and scoring end to end, without MLflow or the CLI.

`train` plans its snapshots (churnkit.features.snapshots: the one scheduler and its leakage rule), runs the
backtest (boosted models against the recency and BTYD baselines, on the same rows), chooses the champion of
each target separately (churn by churn_auc, CLV by clv_gini_norm) and fits the final `ChurnkitModel` on every
labelled snapshot up to the as-of date. `ChurnkitModel` turns raw tables (or a feature table) at an as-of date
into the score table.

No BTYD fit failure stops a run: each snapshot's BTYD fit goes through a fallback chain, and a snapshot where
every BTYD model fails keeps its BTYD columns missing (NaN) for the boosted models.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnkit.config import Config
from churnkit.data.load import ShopData
from churnkit.dates import parse_optional_date
from churnkit.errors import DataTooShortError, InputError, ModelError
from churnkit.features import build_labels, shop_features, to_frame
from churnkit.features.purchases import distinct_channels
from churnkit.features.snapshots import months_not_learned, schedule
from churnkit.models.baselines import RecencyBaseline
from churnkit.models.boosting import ChurnClassifier, CLVRegressor
from churnkit.models.btyd import BTYDModel, fit_btyd
from churnkit.models.metrics import churn_metrics, clv_metrics
from churnkit.models.reasons import btyd_reasons, top_reasons
from churnkit.outputs import format_scores, next_purchase_dates
from churnkit.segments import BehaviourClusters, RFMScorer, recommended_actions, risk_cuts, value_cuts

LABELS = ("churned", "future_revenue", "future_purchases")
KEYS = ("customer_id", "as_of")
BTYD_COLUMNS = ("p_alive", "expected_purchases", "p_no_purchase", "expected_spend", "clv")
SCORE_COLUMNS = (
    "customer_id",
    "as_of",
    "churn_probability",
    "p_alive",
    "expected_purchases",
    "p_purchase_30d",
    "expected_next_purchase",
    "predicted_clv",
    "discounted_clv",
    "segment",
    "cluster",
    "rfm_segment",
    "rfm_score",
    "value_tier",
    "risk_tier",
    "top_reasons",
    "recommended_action",
    "expected_saved_value",
)

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def _day(value: dt.date | str | None) -> dt.date | None:
    return parse_optional_date(value, name="as_of")


@dataclass
class Backtest:
    """The backtest: metrics (DESIGN.md names), the test snapshot's predictions and the champion per target.

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


@dataclass
class TrainResult:
    model: ChurnkitModel
    backtest: Backtest
    mode: str  # "boosted" or "btyd_only"
    notes: list[str]
    summary: dict[str, Any]
    scores: pd.DataFrame


class ChurnkitModel:
    """Everything needed to score a customer base: features settings, BTYD, boosted models, segments."""

    def __init__(
        self,
        *,
        horizon_days: int,
        feature_settings: dict[str, Any],
        btyd_settings: dict[str, Any],
        champions: dict[str, str] | None = None,
        save_rate: float,
        segment_settings: dict[str, Any],
        seed: int = 0,
    ) -> None:
        self.horizon_days = horizon_days
        self.feature_settings = feature_settings
        self.btyd_settings = btyd_settings
        self.champions = champions
        self.save_rate = save_rate
        self.segment_settings = segment_settings
        self.seed = seed

    # ---- fitting ---------------------------------------------------------------------------
    def fit(
        self,
        table: pd.DataFrame,
        *,
        base_at_as_of: pd.DataFrame | None = None,
        btyd: BTYDModel | None = None,
    ) -> ChurnkitModel:
        """Fit the boosted models a champion needs on labelled snapshots (with BTYD columns, NaN where the
        BTYD fit failed), and segments on the latest snapshot. ``btyd`` is the BTYD model fitted on the base
        at the as-of date (None when every BTYD model failed there: the BTYD columns are then missing)."""
        champions = dict(self.champions or {"churn": "boosted", "clv": "boosted"})
        if btyd is None:  # no BTYD model at the as-of date: only the boosted models can score
            champions = {"churn": "boosted", "clv": "boosted"}
        self.champions_ = champions
        self.btyd_ = btyd
        self.feature_columns_ = feature_columns(table)
        self.categorical_columns_ = [c for c in self.feature_columns_ if _is_text(table[c])]
        X = table[self.feature_columns_]
        self.churn_ = None
        self.clv_ = None
        if champions["churn"] == "boosted":
            self.churn_ = ChurnClassifier(
                calibration=self.btyd_settings.get("calibration", "auto"),
                random_state=self.seed,
                prior="p_no_purchase" if self.btyd_settings.get("prior") in ("btyd", "auto") else None,
                select_prior=self.btyd_settings.get("prior") == "auto",
            ).fit(X, table["churned"].astype(int), time_index=table["as_of"])
        if champions["clv"] == "boosted":
            self.clv_ = CLVRegressor(
                objective=self.btyd_settings.get("clv_objective", "auto"),
                random_state=self.seed,
                prior=("expected_purchases", "expected_spend")
                if self.btyd_settings.get("prior") in ("btyd", "auto")
                else None,
                select_prior=self.btyd_settings.get("prior") == "auto",
            ).fit(X, table["future_revenue"].clip(lower=0), time_index=table["as_of"])
        latest = table[table["as_of"] == table["as_of"].max()]
        self.clusters_ = BehaviourClusters(
            n_clusters=self.segment_settings.get("n_clusters"),
            k_range=tuple(self.segment_settings.get("k_range", (3, 8))),
            random_state=self.seed,
        ).fit(latest, churned=latest["churned"], revenue=latest["future_revenue"])
        ref = base_at_as_of if base_at_as_of is not None else latest
        self.rfm_ = RFMScorer(
            bins=self.segment_settings.get("rfm_bins", 5),
            segment_map=self.segment_settings.get("segment_map"),
        ).fit(ref)
        # --- monitoring hook (issue 17): PSI reference distributions of the features and score, for `score` ---
        from churnkit.monitoring.drift import fit_reference

        self.drift_reference_ = fit_reference(self, table)
        return self

    def fit_tiers(self, base: pd.DataFrame) -> ChurnkitModel:
        """Learn the risk- and value-tier cuts from the base at D, so later scoring works row by row.

        Risk: quantiles of the base's churn probability (``segments.risk_quantiles``), unless fixed
        ``segments.risk_thresholds`` are configured. Value: shares of the base's predicted CLV
        (``segments.value_method`` / ``value_shares`` / ``value_quantiles``). See ``docs/segments.md``.
        """
        seg = self.segment_settings
        full, pred = self._predict(base)
        fixed = seg.get("risk_thresholds")
        if fixed is not None:
            self.risk_cuts_ = (float(fixed[0]), float(fixed[1]))
        else:
            self.risk_cuts_ = risk_cuts(
                _risk_key(pred, full), quantiles=seg.get("risk_quantiles", (0.5, 0.8))
            )
        self.value_cuts_ = value_cuts(
            pred["predicted_clv"],
            method=seg.get("value_method", "value_share"),
            shares=seg.get("value_shares", (0.5, 0.9)),
            quantiles=seg.get("value_quantiles", (0.5, 0.8)),
        )
        return self

    # ---- scoring ---------------------------------------------------------------------------
    def score(self, data: ShopData, *, as_of: dt.date | str | None = None) -> pd.DataFrame:
        """The score table for the customer base at as_of (default: the day after the last purchase)."""
        first, last = data.date_range()
        as_of = _day(as_of) or (last + dt.timedelta(days=1))
        if as_of <= first:
            raise DataTooShortError(
                f"as-of date {as_of} is not after the first purchase ({first}): no customer base"
            )
        features = self.features(data, as_of=as_of)
        return self.score_features(features)

    def features(self, data: ShopData, *, as_of: dt.date) -> pd.DataFrame:
        feats = _ordered(shop_features(data, as_of=as_of, **self.feature_settings))
        if feats.empty:
            raise DataTooShortError(
                f"no customer has a purchase before the as-of date {as_of}: empty customer base"
            )
        return feats

    def predict_frame(self, frame: pd.DataFrame, *, as_of: str | None = None) -> pd.DataFrame:
        """pyfunc entry: raw tables in long form (a ``table`` column) or a feature table."""
        if "table" in frame.columns:
            tables = {
                name: part.drop(columns="table").dropna(axis=1, how="all")
                for name, part in frame.groupby("table", sort=False)
            }
            if "transactions" not in tables:
                raise InputError("the model input has no rows with table = 'transactions'")
            data = ShopData.from_frames(tables["transactions"], tables.get("events"), tables.get("customers"))
            return self.score(data, as_of=as_of)
        return self.score_features(frame)

    def score_features(self, features: pd.DataFrame) -> pd.DataFrame:
        """Score a feature table row by row (the same result in one batch or many, e.g. on Spark)."""
        missing = [c for c in self.required_columns() if c not in features.columns]
        if missing:
            raise ModelError(
                f"the data does not match the model's schema: missing feature columns {', '.join(missing[:8])}"
                + (" ..." if len(missing) > 8 else "")
                + " (was the model trained with events/customers tables that are not given now?)"
            )
        full, out = self._predict(features, reasons=True)
        if self.churn_ is None:
            out["top_reasons"] = _btyd_reasons(full)
        as_of = pd.to_datetime(full["as_of"])
        out["p_alive"] = full["p_alive"].to_numpy()
        out["expected_purchases"] = full["expected_purchases"].to_numpy()
        # P(at least one purchase in the next 30 days) = 1 - P(no purchase in [D, D+30)), from the BTYD model
        month = btyd_columns(
            self.btyd_, full, 30, {**self.btyd_settings, "clv_months": 1}
        )  # NaN when no BTYD model could be fitted at D
        out["p_purchase_30d"] = 1.0 - month["p_no_purchase"].to_numpy(dtype=float)
        # the median wait to the next purchase, as a date only when it lies inside the window (then a purchase
        # within the window is at least as likely as not); blank otherwise
        out["expected_next_purchase"] = next_purchase_dates(
            as_of,
            full["expected_next_purchase_days"].to_numpy(dtype=float),
            window_days=self.segment_settings.get("next_purchase_window_days", 365),
        ).to_numpy()
        out["discounted_clv"] = full["clv"].to_numpy()
        clusters = self.clusters_.predict(full)
        out["cluster"] = clusters["cluster"].to_numpy()
        out["segment"] = clusters["segment"].to_numpy()
        rfm = self.rfm_.transform(full)
        out["rfm_segment"] = rfm["rfm_segment"].to_numpy()
        out["rfm_score"] = rfm["rfm_score"].to_numpy()
        # models saved before tiers were learned carry no risk cuts: fall back to the configured/fixed ones
        fixed = self.segment_settings.get("risk_thresholds") or (0.3, 0.6)
        learned = getattr(self, "risk_cuts_", None) is not None and not self.segment_settings.get(
            "risk_thresholds"
        )
        out["risk_key"] = _risk_key(out, full) if learned else out["churn_probability"]
        actions = recommended_actions(
            out,
            risk_col="risk_key",
            value_thresholds=self.value_cuts_,
            risk_thresholds=getattr(self, "risk_cuts_", tuple(fixed)),
            grid=self.segment_settings.get("action_grid"),
            segment_actions=self.segment_settings.get("segment_actions"),
        )
        out["value_tier"] = actions["value_tier"].to_numpy()
        out["risk_tier"] = actions["risk_tier"].to_numpy()
        out["recommended_action"] = actions["recommended_action"].to_numpy()
        out["expected_saved_value"] = out["churn_probability"] * out["predicted_clv"] * self.save_rate
        return format_scores(out[list(SCORE_COLUMNS)])

    def _predict(self, features: pd.DataFrame, *, reasons: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Features + BTYD outputs, and the churn probability and H-day CLV of the champion model.

        With ``reasons`` the boosted model's churn probability comes from its per-feature contributions
        (their sum is the log-odds), which also give ``top_reasons``: one pass over the trees, not two.
        """
        features = _rounded(features.reset_index(drop=True))
        btyd = btyd_columns(self.btyd_, features, self.horizon_days, self.btyd_settings)
        full = pd.concat([features, btyd], axis=1)
        out = pd.DataFrame(
            {
                "customer_id": full["customer_id"].astype(str),
                "as_of": pd.to_datetime(full["as_of"]).dt.date.astype(str),
            }
        )
        X = full[self.feature_columns_] if (self.churn_ is not None or self.clv_ is not None) else None
        if self.churn_ is not None:
            if reasons:
                method = self.btyd_settings.get("reasons", "path")
                contrib = self.churn_.contributions(X, method=method, include_bias=True)
                out["churn_probability"] = self.churn_.probability(contrib.to_numpy().sum(axis=1))
                out["top_reasons"] = top_reasons(contrib.drop(columns="bias"), X, k=3).to_numpy()
            else:
                out["churn_probability"] = self.churn_.predict_proba(X)
        else:
            out["churn_probability"] = full["p_no_purchase"].to_numpy()
        if self.clv_ is not None:
            out["predicted_clv"] = self.clv_.predict(X)
        else:
            out["predicted_clv"] = (full["expected_purchases"] * full["expected_spend"]).to_numpy()
        return full, out

    def required_columns(self) -> list[str]:
        cols = ["customer_id", "as_of", "frequency", "recency", "T", "monetary_value"]
        if getattr(self, "churn_", None) is not None or getattr(self, "clv_", None) is not None:
            cols += [c for c in self.feature_columns_ if c not in BTYD_COLUMNS]
        return list(dict.fromkeys(cols))

    def feature_importance(self) -> pd.DataFrame | None:
        if self.churn_ is None:
            return None
        booster = self.churn_.booster_
        return (
            pd.DataFrame(
                {"feature": booster.feature_name(), "importance": booster.feature_importance("gain")}
            )
            .sort_values("importance", ascending=False)
            .reset_index(drop=True)
        )


RISK_TIE_BREAK = 1e-7
"""Weight of the BTYD P(no purchase in H) added to the churn probability to rank customers into risk tiers:
a calibrated (isotonic) probability has large blocks of tied values, and a tied block at the top would make a
"top 20 %" tier hold 40 % of the base. The tie-break only orders customers within such a block."""


def _risk_key(pred: pd.DataFrame, full: pd.DataFrame) -> np.ndarray:
    """The value risk tiers are cut on: churn probability, ties broken by the BTYD P(no purchase)."""
    p = pred["churn_probability"].to_numpy(dtype=float)
    tie = full["p_no_purchase"].to_numpy(dtype=float) if "p_no_purchase" in full.columns else np.zeros(len(p))
    return p + RISK_TIE_BREAK * np.nan_to_num(tie)


def _ordered(features: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by customer and floats rounded to 8 decimals, so fits and predictions are reproducible.

    Engines return rows in no fixed order, and parallel sums differ in the last bits (~1e-13) from run to
    run, which is enough to move a LightGBM split. Rounding far below any currency unit removes both.
    """
    return _rounded(features.sort_values("customer_id", kind="stable").reset_index(drop=True))


def _rounded(features: pd.DataFrame) -> pd.DataFrame:
    floats = features.select_dtypes("float").columns
    if len(floats):
        features = features.copy()
        features[floats] = features[floats].round(8)
    return features


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def feature_columns(table: pd.DataFrame) -> list[str]:
    """Model inputs: every column but the keys and labels."""
    skip = set(KEYS) | set(LABELS)
    return [c for c in table.columns if c not in skip]


def _btyd_reasons(full: pd.DataFrame) -> np.ndarray:
    """Reasons without a boosted model, in the phrases of `churnkit.models.reasons` (one source of truth)."""
    return btyd_reasons(full).to_numpy(dtype=object)


# ---- training ----------------------------------------------------------------------------------
def btyd_columns(
    model: BTYDModel | None, features: pd.DataFrame, horizon_days: int, settings: dict[str, Any]
) -> pd.DataFrame:
    """The BTYD outputs for a feature table, NaN everywhere when there is no BTYD model (every fit failed)."""
    cols = [*BTYD_COLUMNS, "expected_next_purchase_days"]
    if model is None:
        return pd.DataFrame(np.nan, index=features.index, columns=cols)
    pred = model.predict(
        features,
        horizon_days=horizon_days,
        clv_months=settings["clv_months"],
        annual_discount_rate=settings["annual_discount_rate"],
    )
    return pred[cols].reset_index(drop=True).set_axis(features.index)


def _feature_settings(cfg: Config, channels: list[str]) -> dict[str, Any]:
    """One fixed feature set for every snapshot and for scoring (channels taken once, at the as-of date)."""
    return {
        "windows": tuple(cfg.features.windows),
        "session_gap_minutes": cfg.features.session_gap_minutes,
        "channels": list(channels),
    }


def _snapshot(
    data: ShopData, as_of: dt.date, cfg: Config, settings: dict[str, Any], *, labels: bool
) -> pd.DataFrame:
    tx = data.ibis("transactions")
    feats = shop_features(data, as_of=as_of, **settings)
    if labels and not feats.empty:
        lab = to_frame(build_labels(tx, as_of=as_of, horizon_days=cfg.horizon_days))
        feats = feats.merge(lab.drop(columns=["as_of"], errors="ignore"), on="customer_id", how="left")
        feats["churned"] = feats["churned"].fillna(1).astype(int)
        feats["future_revenue"] = feats["future_revenue"].fillna(0.0)
        feats["future_purchases"] = feats["future_purchases"].fillna(0)
    return _ordered(feats)


def _with_btyd(feats: pd.DataFrame, cfg: Config) -> tuple[pd.DataFrame, BTYDModel | None, dict[str, Any]]:
    """Fit the BTYD chain on one snapshot's own history and add its outputs as columns (NaN if all failed)."""
    with warnings.catch_warnings(record=True) as caught:  # said once per snapshot in the notes, not per fit
        warnings.simplefilter("always")
        fitted = fit_btyd(
            feats,
            model=cfg.models.btyd,
            penalizer=cfg.models.penalizer,
            spend_penalizer=cfg.models.spend_penalizer,
        )
    outcome = dict(fitted.outcome)
    if "warnings" not in outcome:
        outcome["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    settings = {"clv_months": cfg.models.clv_months, "annual_discount_rate": cfg.models.annual_discount_rate}
    out = feats.reset_index(drop=True)
    pred = btyd_columns(fitted.model, out, cfg.horizon_days, settings)
    for c in BTYD_COLUMNS:
        out[c] = pred[c].to_numpy()
    return out, fitted.model, outcome


class _Snapshots:
    """Labelled snapshots (features, labels, BTYD columns), each built once and shared by backtest and final fit."""

    def __init__(self, data: ShopData, cfg: Config, settings: dict[str, Any], progress: Progress) -> None:
        self.data, self.cfg, self.settings, self.progress = data, cfg, settings, progress
        self.tables: dict[dt.date, pd.DataFrame] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}

    def get(self, d: dt.date) -> pd.DataFrame:
        if d not in self.tables:
            self.progress(f"features and BTYD at {d}")
            snap = _snapshot(self.data, d, self.cfg, self.settings, labels=True)
            if len(snap) >= MIN_SNAPSHOT_CUSTOMERS:
                snap, _, outcome = _with_btyd(snap, self.cfg)
                self.outcomes[str(d)] = outcome
            self.tables[d] = snap
        return self.tables[d]

    def stack(self, dates: list[dt.date] | tuple[dt.date, ...]) -> pd.DataFrame:
        parts = [t for t in (self.get(d) for d in dates) if len(t) >= MIN_SNAPSHOT_CUSTOMERS]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


MIN_SNAPSHOT_CUSTOMERS = 20
HOLDOUT_CUSTOMER_SHARE = 0.2
"""Share of customers held out of training when the backtest cannot be time-based (a short history)."""


def held_out_customers(
    customer_ids: pd.Series, *, seed: int, share: float = HOLDOUT_CUSTOMER_SHARE
) -> np.ndarray:
    """Boolean mask: a seeded, stable hash split of customer ids (the same customer is held out at every date)."""
    keys = pd.util.hash_pandas_object(
        customer_ids.astype(str), index=False, hash_key=f"churnkit{seed:08d}"[:16]
    )
    return (keys.to_numpy(dtype=np.uint64) % np.uint64(10_000)) < np.uint64(round(share * 10_000))


def _evaluate(
    test: pd.DataFrame, train: pd.DataFrame, model: ChurnkitModel | None, cfg: Config
) -> tuple[dict, pd.DataFrame]:
    """Metrics of the model and both baselines on the same test rows, overall and split by buyer type.

    The recency baseline is fitted on the training rows only; without training rows it is not reported
    (fitting it on the test rows would be an in-sample score).
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
        pred["baseline_recency_clv"] = recency.predict_clv(test, horizon_days=cfg.horizon_days)
    pred["baseline_btyd_churn"] = test["p_no_purchase"].to_numpy()
    pred["baseline_btyd_clv"] = (test["expected_purchases"] * test["expected_spend"]).to_numpy()
    if model is not None:
        X = test[model.feature_columns_]
        if model.churn_ is not None:
            pred["boosted_churn"] = model.churn_.predict_proba(X)
        if model.clv_ is not None:
            pred["boosted_clv"] = model.clv_.predict(X)
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
        for prefix, name in (
            ("baseline_recency_", "baseline_recency"),
            ("baseline_btyd_", "baseline_btyd"),
            ("boosted_", "boosted"),
        ):
            m: dict[str, float] = {}
            churn_col, clv_col = f"{name}_churn", f"{name}_clv"
            if churn_col in sub and sub[churn_col].notna().all():
                m.update(churn_metrics(sub["churned"], sub[churn_col], prefix=prefix))
            if clv_col in sub and sub[clv_col].notna().all():
                m.update(clv_metrics(sub["future_revenue"], sub[clv_col], prefix=prefix))
            metrics.update({k + suffix: float(v) for k, v in m.items()})
    return metrics, pred


CHAMPION_METRICS = {"churn": "churn_auc", "clv": "clv_gini_norm"}
"""The backtest metric that chooses each target's champion (both rank customers, as campaigns do)."""


def choose_champions(
    metrics: dict[str, float], choice: dict[str, str], *, boosted: dict[str, bool], btyd: bool
) -> tuple[dict[str, str], list[str]]:
    """The model that scores each target, and one plain line per decision worth saying.

    ``choice`` is ``models.champion`` per target (best | boosted | btyd); ``boosted`` says per target whether
    a boosted model was trained, ``btyd`` whether a BTYD model exists at the as-of date. ``best`` picks the
    boosted model when its backtest metric is at least the BTYD one's (or BTYD's is missing).
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


def _btyd_problem_lines(outcomes: dict[str, dict[str, Any]]) -> list[str]:
    """One plain line per snapshot whose BTYD fit needed a boundary, a fallback or failed."""
    lines = []
    for date, o in outcomes.items():
        msg = o.get("message")
        if msg:
            lines.append(f"BTYD at {date}: {msg}")
    return lines


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
    t = cfg.training
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
    notes: list[str] = list(plan.notes)
    progress(plan.describe())
    settings = _settings(cfg, distinct_channels(data.ibis("transactions"), as_of))
    snaps = _Snapshots(data, cfg, settings["feature_settings"], progress)
    test = snaps.get(plan.test)
    if len(test) < MIN_SNAPSHOT_CUSTOMERS:
        raise DataTooShortError(f"only {len(test)} customers in the base at the test snapshot {plan.test}")
    train_table = snaps.stack(plan.train)
    if plan.evidence == "customer_holdout" and not train_table.empty:
        test = test[held_out_customers(test["customer_id"], seed=t.seed)].reset_index(drop=True)
        train_table = train_table[~held_out_customers(train_table["customer_id"], seed=t.seed)].reset_index(
            drop=True
        )
    boosted_possible = (
        not train_table.empty
        and len(train_table) >= 8
        and train_table["churned"].nunique() == 2
        and (train_table["future_revenue"] > 0).any()
    )
    mode = "boosted" if boosted_possible else "btyd_only"
    if not boosted_possible:
        notes.append(
            f"No labelled training snapshot with both churners and buyers before {plan.test} (H = {h} days): "
            "trained the BTYD family only."
        )
    bt_model = None
    if boosted_possible:
        progress(
            f"backtest: fitting boosted models on {len(train_table):,} rows from {len(plan.train)} snapshots"
        )
        bt_model = ChurnkitModel(**settings, champions={"churn": "boosted", "clv": "boosted"}).fit(
            train_table
        )
    metrics, predictions = _evaluate(test, train_table, bt_model, cfg)

    # final model: every labelled snapshot up to the as-of date, BTYD on the base at the as-of date
    final_table = snaps.stack(plan.final) if boosted_possible else train_table
    progress(f"final fit and scoring at {as_of}")
    base = _snapshot(data, as_of, cfg, settings["feature_settings"], labels=False)
    if base.empty:
        raise DataTooShortError(f"no customer has a purchase before {as_of}: empty customer base")
    _, btyd_final, base_outcome = _with_btyd(base, cfg)
    snaps.outcomes[f"{as_of} (scoring)"] = base_outcome
    final_ok = boosted_possible and final_table["churned"].nunique() == 2
    champions, champion_notes = choose_champions(
        metrics,
        cfg.models.champion.model_dump(),
        boosted={"churn": final_ok, "clv": final_ok},
        btyd=btyd_final is not None,
    )
    notes += champion_notes
    notes += _btyd_problem_lines(snaps.outcomes)
    unseen = months_not_learned(as_of, h, plan.final)
    if unseen and (plan.observed_end - first).days < 365 + h:
        names = ", ".join(dt.date(2000, m, 1).strftime("%b") for m in unseen)
        notes.append(
            f"The horizon [{as_of}, {as_of + dt.timedelta(days=h)}) holds months ({names}) that no training label "
            "window covers (history under a year): a seasonal peak there is not learned, so expect the "
            "calibration to be off."
        )
    for target, champ in champions.items():
        src = "boosted_" if champ == "boosted" else "baseline_btyd_"
        for k in list(metrics):
            if k.startswith(src + target):
                metrics[k[len(src) :]] = metrics[k]
        col = "boosted" if champ == "boosted" else "baseline_btyd"
        name = "churn_probability" if target == "churn" else "predicted_clv"
        predictions[name] = predictions[f"{col}_{target}"]
    backtest = Backtest(plan.test, list(plan.train), metrics, predictions, champions, plan.evidence, notes)

    model = ChurnkitModel(**settings, champions=champions)
    seg_table = final_table if not final_table.empty else test
    model.fit(seg_table, base_at_as_of=base, btyd=btyd_final)
    model.fit_tiers(base)
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
        "btyd": base_outcome,
        "btyd_snapshots": snaps.outcomes,
    }
    return TrainResult(model, backtest, mode, notes, summary, scores)


def _settings(cfg: Config, channels: list[str]) -> dict[str, Any]:
    return {
        "horizon_days": cfg.horizon_days,
        "feature_settings": _feature_settings(cfg, channels),
        "btyd_settings": {
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
