"""`ChurnkitModel`: everything needed to score a customer base, fitted in one `fit`.

It bundles the feature settings, the BTYD model fitted on the base at the as-of date, the champion churn and
CLV models (boosted, or BTYD's own predictions), the behavioural clusters, the RFM scorer and the risk and
value tier cut points learned on the base. It turns raw tables (or a feature table) at an as-of date into the
score table (:data:`churnkit.schema.SCORE_COLUMNS`), row by row: the same result in one batch or many.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from churnkit.data.load import ShopData
from churnkit.dates import parse_optional_date
from churnkit.errors import DataTooShortError, InputError, ModelError, NotFittedError
from churnkit.features.training import rounded, snapshot_table
from churnkit.models.churn import ChurnClassifier
from churnkit.models.clv import CLVRegressor
from churnkit.models.reasons import btyd_reasons, top_reasons
from churnkit.models.training_tables import btyd_columns, fit_btyd_recorded
from churnkit.outputs import date_text, format_scores, next_purchase_dates
from churnkit.schema import BTYD_COLUMNS, KEYS, LABEL_COLUMNS, SCORE_COLUMNS
from churnkit.segments import BehaviourClusters, RFMScorer, recommended_actions, risk_cuts, value_cuts

__all__ = [
    "RISK_TIE_BREAK",
    "BoostedModels",
    "ChurnkitModel",
    "fit_boosted",
    "model_input_columns",
    "scoring_date",
]

BOOSTED = {"churn": "boosted", "clv": "boosted"}
_RENAMED = {"feature_columns_": "input_columns_", "categorical_columns_": "categorical_inputs_"}


def model_input_columns(table: pd.DataFrame) -> list[str]:
    """The boosted models' inputs: every column of a training table but the keys and labels.

    (Not ``churnkit.features.feature_columns``, the catalogue's feature names: these also hold the BTYD
    outputs.)
    """
    skip = {*KEYS, *LABEL_COLUMNS}
    return [c for c in table.columns if c not in skip]


def scoring_date(data: Any, as_of: dt.date | str | None) -> dt.date:
    """The as-of date to score ``data`` at: ``as_of``, by default the day after the last purchase; it must
    come after the first purchase (else there is no customer base)."""
    first, last = data.date_range()
    day = parse_optional_date(as_of, name="as_of") or (last + dt.timedelta(days=1))
    if day <= first:
        raise DataTooShortError(
            f"as-of date {day} is not after the first purchase ({first}): no customer base"
        )
    return day


class BoostedModels:
    """The boosted churn and CLV models of one training table (either may be None) and their input columns."""

    def __init__(self, columns: list[str], churn: ChurnClassifier | None, clv: CLVRegressor | None) -> None:
        self.columns = columns
        self.churn = churn
        self.clv = clv


def fit_boosted(
    table: pd.DataFrame, *, targets: dict[str, str], btyd_settings: dict[str, Any], seed: int
) -> BoostedModels:
    """Fit the boosted model of each target whose champion is ``boosted`` on labelled snapshots.

    ``btyd_settings``: ``calibration``, ``clv_objective`` and ``prior`` (btyd | auto | none: start from the
    BTYD prediction, or choose on the held-out fold whether to).
    """
    columns = model_input_columns(table)
    X = table[columns]
    prior = btyd_settings.get("prior")
    use_prior, select = prior in ("btyd", "auto"), prior == "auto"
    churn = clv = None
    if targets["churn"] == "boosted":
        churn = ChurnClassifier(
            calibration=btyd_settings.get("calibration", "auto"),
            random_state=seed,
            prior="p_no_purchase" if use_prior else None,
            select_prior=select,
        ).fit(X, table["churned"].astype(int), time_index=table["as_of"])
    if targets["clv"] == "boosted":
        clv = CLVRegressor(
            objective=btyd_settings.get("clv_objective", "auto"),
            random_state=seed,
            prior=("expected_purchases", "expected_spend") if use_prior else None,
            select_prior=select,
        ).fit(X, table["future_revenue"].clip(lower=0), time_index=table["as_of"])
    return BoostedModels(columns, churn, clv)


class ChurnkitModel:
    """Features settings, BTYD, the champion models, segments and tiers: the whole scoring recipe.

    Parameters (stored as given): ``horizon_days``; ``feature_settings`` (`build_features`'s windows,
    session gap and channels); ``btyd_settings`` (the BTYD model and penalizers, the discounted CLV's months
    and rate, calibration, CLV objective, reasons method, prior); ``champions`` (per target, ``boosted`` or
    ``btyd``; default both boosted); ``save_rate`` (of the expected saved value); ``segment_settings``
    (the ``segments`` config); ``seed``.

    Fitted attributes: ``btyd_`` (None when every BTYD model failed on the base) and ``btyd_outcome_``,
    ``champions_`` (the champions used: boosted where BTYD is missing), ``input_columns_`` (the boosted
    models' inputs: features and BTYD outputs), ``categorical_inputs_``, ``churn_`` and ``clv_`` (None for a BTYD champion),
    ``clusters_``, ``rfm_``, ``drift_reference_``, ``risk_cuts_`` and ``value_cuts_``.
    """

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

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Models saved before the inputs were renamed (``feature_columns_``, ``categorical_columns_``) load."""
        self.__dict__.update({_RENAMED.get(k, k): v for k, v in state.items()})

    # ---- fitting ---------------------------------------------------------------------------
    def fit(self, table: pd.DataFrame, *, base: pd.DataFrame) -> ChurnkitModel:
        """Fit on labelled snapshots ``table`` (with BTYD columns, NaN where the BTYD fit failed) and the
        customer base at the as-of date ``base`` (a feature table without labels).

        On ``base``: the BTYD model (when every BTYD model fails there the boosted models score both targets),
        the RFM scorer and the tier cut points. On ``table``: the boosted models a champion needs, and the
        behavioural clusters on its latest snapshot.
        """
        self.btyd_, self.btyd_outcome_ = fit_btyd_recorded(base, self.btyd_settings)
        champions = dict(self.champions or BOOSTED)
        if self.btyd_ is None:  # no BTYD model at the as-of date: only the boosted models can score
            champions = dict(BOOSTED)
        self.champions_ = champions
        boosted = fit_boosted(table, targets=champions, btyd_settings=self.btyd_settings, seed=self.seed)
        self.input_columns_ = boosted.columns
        self.categorical_inputs_ = [c for c in self.input_columns_ if _is_text(table[c])]
        self.churn_, self.clv_ = boosted.churn, boosted.clv
        latest = table[table["as_of"] == table["as_of"].max()]
        self.clusters_ = BehaviourClusters(
            n_clusters=self.segment_settings.get("n_clusters"),
            k_range=tuple(self.segment_settings.get("k_range", (3, 8))),
            random_state=self.seed,
        ).fit(latest, churned=latest["churned"], revenue=latest["future_revenue"])
        self.rfm_ = RFMScorer(
            bins=self.segment_settings.get("rfm_bins", 5),
            segment_map=self.segment_settings.get("segment_map"),
        ).fit(base)
        # --- the base at D as the model scores it: the tier cuts and the drift reference come from it ---
        from churnkit.monitoring.drift import fit_reference

        full, pred, _ = self._predict(base)
        self.drift_reference_ = fit_reference(self, full, pred["churn_probability"])
        self._fit_tiers(full, pred)
        return self

    def _fit_tiers(self, full: pd.DataFrame, pred: pd.DataFrame) -> None:
        """Learn the risk- and value-tier cuts from the base at D (``_predict``), so later scoring works row by row.

        Risk: quantiles of the base's churn probability (``segments.risk_quantiles``), unless fixed
        ``segments.risk_thresholds`` are configured. Value: shares of the base's predicted CLV
        (``segments.value_method`` / ``value_shares`` / ``value_quantiles``). See ``docs/segments.md``.
        """
        seg = self.segment_settings
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

    def _check_fitted(self) -> None:
        if not hasattr(self, "value_cuts_"):  # set last by fit (and present in every saved model)
            raise NotFittedError("This ChurnkitModel is not fitted yet; call fit first.")

    # ---- scoring ---------------------------------------------------------------------------
    def score(self, data: ShopData, *, as_of: dt.date | str | None = None) -> pd.DataFrame:
        """The score table for the customer base at as_of (default: the day after the last purchase)."""
        self._check_fitted()
        return self.score_features(self.features(data, as_of=scoring_date(data, as_of)))

    def features(
        self, data: ShopData, *, as_of: dt.date, fetched: Callable[[], None] | None = None
    ) -> pd.DataFrame:
        """The feature table of the customer base at ``as_of``, with the model's feature settings.

        ``fetched`` runs once the features are out of the engine, before their pandas conversion (`to_frame`)."""
        feats = snapshot_table(data, as_of, fetched=fetched, **self.feature_settings)
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
        self.check_columns(features.columns)
        # the reasons (mostly single-threaded Python) are worked out in a worker thread, on the second core,
        # while the CLV and the other score columns are computed
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="churnkit-reasons") as pool:
            full, out, pending = self._predict(features, reasons=pool)
            if pending is None:
                pending = pool.submit(btyd_reasons, full)
            self._score_columns(full, out)
            out["top_reasons"] = pending.result().array
        return format_scores(out[list(SCORE_COLUMNS)])

    def _score_columns(self, full: pd.DataFrame, out: pd.DataFrame) -> None:
        """Add to ``out`` (churn probability and CLV per row of ``full``) every score column but the reasons."""
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

    def check_columns(self, columns: Any) -> None:
        """ModelError naming the feature columns the model needs that ``columns`` lacks (a pandas or Spark
        table's columns)."""
        missing = [c for c in self.required_columns() if c not in set(columns)]
        if missing:
            raise ModelError(
                f"the data does not match the model's schema: missing feature columns {', '.join(missing[:8])}"
                + (" ..." if len(missing) > 8 else "")
                + " (was the model trained with events/customers tables that are not given now?)"
            )

    def _predict(
        self, features: pd.DataFrame, *, reasons: ThreadPoolExecutor | None = None
    ) -> tuple[pd.DataFrame, pd.DataFrame, Future[pd.Series] | None]:
        """Features + BTYD outputs, the churn probability and H-day CLV of the champion model, and (with
        ``reasons`` and a boosted churn model) ``top_reasons`` as they are worked out in that pool.

        With ``reasons`` the boosted model's churn probability comes from its per-feature contributions
        (their sum is the log-odds), which also give ``top_reasons``: one pass over the trees, not two.
        """
        features = _rounded(features.reset_index(drop=True))
        btyd = btyd_columns(self.btyd_, features, self.horizon_days, self.btyd_settings)
        full = pd.concat([features, btyd], axis=1)
        out = pd.DataFrame(
            {
                "customer_id": full["customer_id"].astype(str),
                "as_of": date_text(full["as_of"]),
            }
        )
        X = encoded = None
        if self.churn_ is not None or self.clv_ is not None:
            # the models read their columns by name: no copy of the inputs unless a name is repeated
            X = full if full.columns.is_unique else full[self.input_columns_]
        pending = None
        if self.churn_ is not None:
            if reasons is not None:
                method = self.btyd_settings.get("reasons", "path")
                encoded = self.churn_._encode(X)
                values, columns = self.churn_.contribution_values(X, method=method, encoded=encoded)
                contrib = pd.DataFrame(values[:, :-1], index=X.index, columns=columns[:-1], copy=False)
                pending = reasons.submit(top_reasons, contrib, X, k=3)
                out["churn_probability"] = self.churn_.probability(ChurnClassifier.margin_of(values))
            else:
                out["churn_probability"] = self.churn_.predict_proba(X)
        else:
            out["churn_probability"] = full["p_no_purchase"].to_numpy()
        if self.clv_ is not None:
            same_inputs = encoded is not None and _same_schema(self.churn_, self.clv_)
            out["predicted_clv"] = self.clv_.predict(X, encoded=encoded if same_inputs else None)
        else:
            out["predicted_clv"] = (full["expected_purchases"] * full["expected_spend"]).to_numpy()
        return full, out, pending

    def required_columns(self) -> list[str]:
        """The feature columns a table to score must have."""
        self._check_fitted()
        cols = ["customer_id", "as_of", "frequency", "recency", "T", "monetary_value"]
        if getattr(self, "churn_", None) is not None or getattr(self, "clv_", None) is not None:
            cols += [c for c in self.input_columns_ if c not in BTYD_COLUMNS]
        return list(dict.fromkeys(cols))

    def feature_importance(self) -> pd.DataFrame | None:
        """The boosted churn model's total gain per input, largest first (None for a BTYD churn champion)."""
        self._check_fitted()
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


def _rounded(features: pd.DataFrame) -> pd.DataFrame:
    """``features.training.rounded`` (float columns to 8 decimals) that keeps, uncopied, the columns the
    rounding leaves as they are: a table from ``snapshot_table`` is rounded already."""
    if not features.columns.is_unique:
        return rounded(features)
    changed: dict[Any, Any] = {}
    for col in features.select_dtypes("float").columns:
        series = features[col]
        if isinstance(series.dtype, np.dtype):
            values = series.to_numpy()
            again = values.round(8)
            if not np.array_equal(again, values, equal_nan=True):  # equal values are the same bits here
                changed[col] = again
        else:
            changed[col] = series.round(8)
    if changed:
        features = features.copy(deep=False)
        for col, values in changed.items():
            features[col] = values
    return features


def _same_schema(a: Any, b: Any) -> bool:
    """Whether two boosted models encode their inputs alike (same columns, same category levels)."""
    return a.feature_names_ == b.feature_names_ and a.categories_ == b.categories_


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))
