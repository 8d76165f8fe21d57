"""Training and scoring end to end, without MLflow or the CLI.

`train` builds rolling-origin snapshots, runs the time-based backtest (boosted models against the recency
and BTYD baselines, on the same rows) and fits the final `ChurnkitModel` on every labelled snapshot.
`ChurnkitModel` turns raw tables (or a feature table) at an as-of date into the score table.

Snapshot dates, for an as-of date D and horizon H (days):
- the test snapshot is D itself when its whole horizon lies inside the data, else D − H (its window
  [D − H, D) is the last fully observed one);
- training snapshots end their label window no later than the test snapshot (origin ≤ test − H), spaced by
  ``training.spacing_days`` and keeping only origins with at least H days of history: no customer-time leakage;
- the final model is refitted on the labelled snapshots that end by D and scores the customer base at D.
When no training snapshot fits, only the BTYD family is trained, and the result says so (`mode = "btyd_only"`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnkit.config import Config
from churnkit.data.load import ShopData
from churnkit.errors import DataTooShortError, InputError, ModelError
from churnkit.features import build_labels, shop_features, to_frame
from churnkit.features.purchases import distinct_channels
from churnkit.models.baselines import RecencyBaseline
from churnkit.models.boosting import ChurnClassifier, CLVRegressor
from churnkit.models.btyd import BTYDModel
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
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"as_of must be a date like 2024-01-31, got {value!r}") from None


def snapshot_dates(
    first: dt.date, last: dt.date, as_of: dt.date, *, horizon_days: int, n_snapshots: int, spacing_days: int
) -> tuple[dt.date | None, list[dt.date], list[dt.date]]:
    """(test origin, training origins, final-fit origins) for data spanning [first, last] scored at as_of."""
    h = dt.timedelta(days=horizon_days)
    end = last + dt.timedelta(days=1)  # data covers [first, end)
    observed_end = min(as_of, end)
    test = as_of if as_of + h <= end else observed_end - h
    if test <= first:
        test = None

    def back_from(latest: dt.date) -> list[dt.date]:
        out = []
        for k in range(n_snapshots):
            d = latest - dt.timedelta(days=k * spacing_days)
            if (d - first).days < horizon_days:
                break
            out.append(d)
        return sorted(out)

    train = back_from(test - h) if test is not None else []
    final = back_from(observed_end - h)
    return test, train, final


@dataclass
class Backtest:
    """The time-based backtest: metrics (DESIGN.md names) and the test snapshot's predictions."""

    test_as_of: dt.date | None
    train_as_ofs: list[dt.date]
    metrics: dict[str, float]
    predictions: pd.DataFrame
    champion: str
    notes: list[str] = field(default_factory=list)


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
        champion: str,
        save_rate: float,
        segment_settings: dict[str, Any],
    ) -> None:
        self.horizon_days = horizon_days
        self.feature_settings = feature_settings
        self.btyd_settings = btyd_settings
        self.champion = champion
        self.save_rate = save_rate
        self.segment_settings = segment_settings

    # ---- fitting ---------------------------------------------------------------------------
    def fit(self, table: pd.DataFrame, *, base_at_as_of: pd.DataFrame | None = None) -> ChurnkitModel:
        """Fit boosted models on labelled snapshots (with BTYD columns) and segments on the latest ones."""
        self.feature_columns_ = feature_columns(table)
        self.categorical_columns_ = [c for c in self.feature_columns_ if _is_text(table[c])]
        X = table[self.feature_columns_]
        self.churn_ = None
        self.clv_ = None
        if self.champion == "boosted" and table["as_of"].nunique() >= 2:
            self.churn_ = ChurnClassifier(calibration=self.btyd_settings.get("calibration", "auto")).fit(
                X, table["churned"].astype(int), time_index=table["as_of"]
            )
            self.clv_ = CLVRegressor(objective=self.btyd_settings.get("clv_objective", "auto")).fit(
                X, table["future_revenue"].clip(lower=0), time_index=table["as_of"]
            )
        latest = table[table["as_of"] == table["as_of"].max()]
        self.clusters_ = BehaviourClusters(
            n_clusters=self.segment_settings.get("n_clusters"),
            k_range=tuple(self.segment_settings.get("k_range", (3, 8))),
        ).fit(latest, churned=latest["churned"], revenue=latest["future_revenue"])
        ref = base_at_as_of if base_at_as_of is not None else latest
        self.rfm_ = RFMScorer(
            bins=self.segment_settings.get("rfm_bins", 5),
            segment_map=self.segment_settings.get("segment_map"),
        ).fit(ref)
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
        month = self.btyd_.predict(
            full,
            horizon_days=30,
            clv_months=1,
            annual_discount_rate=self.btyd_settings["annual_discount_rate"],
        )
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
        btyd = self.btyd_.predict(
            features,
            horizon_days=self.horizon_days,
            clv_months=self.btyd_settings["clv_months"],
            annual_discount_rate=self.btyd_settings["annual_discount_rate"],
        ).reset_index(drop=True)
        cols = [*BTYD_COLUMNS, "expected_next_purchase_days"]
        full = pd.concat([features, btyd[cols]], axis=1)
        out = pd.DataFrame(
            {
                "customer_id": full["customer_id"].astype(str),
                "as_of": pd.to_datetime(full["as_of"]).dt.date.astype(str),
            }
        )
        if self.churn_ is not None:
            X = full[self.feature_columns_]
            if reasons:
                method = self.btyd_settings.get("reasons", "path")
                contrib = self.churn_.contributions(X, method=method, include_bias=True)
                out["churn_probability"] = self.churn_.probability(contrib.to_numpy().sum(axis=1))
                out["top_reasons"] = top_reasons(contrib.drop(columns="bias"), X, k=3).to_numpy()
            else:
                out["churn_probability"] = self.churn_.predict_proba(X)
            out["predicted_clv"] = self.clv_.predict(X)
        else:
            out["churn_probability"] = full["p_no_purchase"].to_numpy()
            out["predicted_clv"] = (full["expected_purchases"] * full["expected_spend"]).to_numpy()
        return full, out

    def required_columns(self) -> list[str]:
        cols = ["customer_id", "as_of", "frequency", "recency", "T", "monetary_value"]
        if getattr(self, "churn_", None) is not None:
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
def _btyd(cfg: Config) -> BTYDModel:
    m = cfg.models
    return BTYDModel(m.btyd, penalizer=m.penalizer, spend_penalizer=m.spend_penalizer)


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


def _with_btyd(feats: pd.DataFrame, cfg: Config) -> tuple[pd.DataFrame, BTYDModel]:
    """Fit the BTYD model on one snapshot's own history and add its outputs as columns."""
    model = _btyd(cfg).fit(feats)
    pred = model.predict(
        feats,
        horizon_days=cfg.horizon_days,
        clv_months=cfg.models.clv_months,
        annual_discount_rate=cfg.models.annual_discount_rate,
    )
    out = feats.reset_index(drop=True)
    for c in BTYD_COLUMNS:
        out[c] = pred[c].to_numpy()
    return out, model


def _stack(
    data: ShopData, dates: list[dt.date], cfg: Config, settings: dict[str, Any], progress: Progress
) -> pd.DataFrame:
    parts = []
    for d in dates:
        progress(f"features and BTYD at {d}")
        snap = _snapshot(data, d, cfg, settings, labels=True)
        if len(snap) >= 20:
            parts.append(_with_btyd(snap, cfg)[0])
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def _evaluate(
    test: pd.DataFrame, train: pd.DataFrame, model: ChurnkitModel | None, cfg: Config
) -> tuple[dict, pd.DataFrame]:
    """Metrics of the model and both baselines on the same test rows, overall and split by buyer type."""
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
    recency = RecencyBaseline().fit(
        train if not train.empty else test, (train if not train.empty else test)["churned"]
    )
    pred["baseline_recency_churn"] = recency.predict_proba(test)
    pred["baseline_recency_clv"] = recency.predict_clv(test, horizon_days=cfg.horizon_days)
    pred["baseline_btyd_churn"] = test["p_no_purchase"].to_numpy()
    pred["baseline_btyd_clv"] = (test["expected_purchases"] * test["expected_spend"]).to_numpy()
    if model is not None and model.churn_ is not None:
        X = test[model.feature_columns_]
        pred["boosted_churn"] = model.churn_.predict_proba(X)
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
        for prefix, churn_col, clv_col in (
            ("baseline_recency_", "baseline_recency_churn", "baseline_recency_clv"),
            ("baseline_btyd_", "baseline_btyd_churn", "baseline_btyd_clv"),
            ("boosted_", "boosted_churn", "boosted_clv"),
        ):
            if churn_col not in sub:
                continue
            m = {
                **churn_metrics(sub["churned"], sub[churn_col], prefix=prefix),
                **clv_metrics(sub["future_revenue"], sub[clv_col], prefix=prefix),
            }
            metrics.update({k + suffix: float(v) for k, v in m.items()})
    return metrics, pred


def train(data: ShopData, cfg: Config, *, progress: Progress | None = None) -> TrainResult:
    """Backtest, then fit the final model on all labelled snapshots and score the base at the as-of date."""
    progress = progress or _noop
    first, last = data.date_range()
    as_of = cfg.as_of or (last + dt.timedelta(days=1))
    if as_of <= first or as_of > last + dt.timedelta(days=1 + cfg.horizon_days):
        raise DataTooShortError(
            f"as-of date {as_of} is outside the data ({first} to {last}); choose a date after the first purchase"
        )
    h, n, spacing = cfg.horizon_days, cfg.training.n_snapshots, cfg.training.spacing_days
    test_date, train_dates, final_dates = snapshot_dates(
        first, last, as_of, horizon_days=h, n_snapshots=n, spacing_days=spacing
    )
    notes: list[str] = []
    if test_date is None:
        raise DataTooShortError(
            f"the data ({first} to {last}) is too short to backtest a {h}-day horizon at {as_of}: "
            f"use a shorter --horizon or a later --as-of"
        )
    progress(f"test snapshot at {test_date}")
    settings = _settings(cfg, distinct_channels(data.ibis("transactions"), as_of))
    feats_settings = settings["feature_settings"]
    test = _snapshot(data, test_date, cfg, feats_settings, labels=True)
    if len(test) < 20:
        raise DataTooShortError(f"only {len(test)} customers in the base at the test snapshot {test_date}")
    test, _ = _with_btyd(test, cfg)
    train_table = _stack(data, train_dates, cfg, feats_settings, progress)
    boosted_possible = not train_table.empty and train_table["as_of"].nunique() >= 2
    mode = "boosted" if boosted_possible else "btyd_only"
    if not boosted_possible:
        notes.append(
            f"Too little history for gradient-boosted snapshots at H = {h} days (need at least two labelled "
            f"as-of dates with {h} days of history before {test_date}): trained the BTYD family only."
        )
    bt_model = None
    if boosted_possible:
        progress(
            f"backtest: fitting boosted models on {len(train_table):,} rows from {len(train_dates)} snapshots"
        )
        bt_model = ChurnkitModel(**settings, champion="boosted").fit(train_table)
    metrics, predictions = _evaluate(test, train_table, bt_model, cfg)
    champion = "btyd"
    if boosted_possible:
        b, base = metrics.get("boosted_churn_auc", np.nan), metrics.get("baseline_btyd_churn_auc", np.nan)
        choice = cfg.models.champion
        if choice == "best":
            champion = "boosted" if b >= base else "btyd"
            if champion == "btyd":
                notes.append(
                    f"The boosted model (churn AUC {b:.3f}) did not beat the BTYD baseline ({base:.3f}); "
                    "BTYD scores are used (models.champion: best)."
                )
        else:
            champion = choice
            if choice == "boosted" and b < base:
                notes.append(
                    f"The boosted model (AUC {b:.3f}) is below BTYD ({base:.3f}) but models.champion forces it."
                )
    src = "boosted_" if champion == "boosted" else "baseline_btyd_"
    for k in list(metrics):
        if k.startswith(src):
            metrics[k[len(src) :]] = metrics[k]
    predictions["churn_probability"] = predictions[
        f"{'boosted' if champion == 'boosted' else 'baseline_btyd'}_churn"
    ]
    predictions["predicted_clv"] = predictions[
        f"{'boosted' if champion == 'boosted' else 'baseline_btyd'}_clv"
    ]
    backtest = Backtest(test_date, train_dates, metrics, predictions, champion, notes)

    # final model: every labelled snapshot up to the as-of date
    final_table = train_table
    if boosted_possible:
        extra = [d for d in final_dates if d not in set(train_dates)]
        if extra:
            more = _stack(data, extra, cfg, feats_settings, progress)
            final_table = pd.concat([train_table, more], ignore_index=True) if not more.empty else train_table
    progress(f"final fit and scoring at {as_of}")
    base = _snapshot(data, as_of, cfg, feats_settings, labels=False)
    if base.empty:
        raise DataTooShortError(f"no customer has a purchase before {as_of}: empty customer base")
    _, btyd_final = _with_btyd(base, cfg)
    model = ChurnkitModel(**settings, champion=champion)
    seg_table = final_table if not final_table.empty else test
    model.fit(seg_table, base_at_as_of=base)
    model.btyd_ = btyd_final
    model.fit_tiers(base)
    scores = model.score_features(base)
    summary = {
        "as_of": str(as_of),
        "horizon_days": h,
        "test_as_of": str(test_date),
        "train_as_ofs": [str(d) for d in train_dates],
        "final_as_ofs": [str(d) for d in final_dates],
        "mode": mode,
        "champion": champion,
        "customers_scored": len(scores),
        "training_rows": len(final_table),
        "btyd": btyd_final.fit_info_ if hasattr(btyd_final, "fit_info_") else {},
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
        },
        "save_rate": cfg.targeting.save_rate,
        "segment_settings": cfg.segments.model_dump(),
    }
