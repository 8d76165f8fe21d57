"""Behavioural clusters with readable names and a profile table.

A scikit-learn pipeline (median imputation, signed log1p, robust scaling, KMeans) is fitted on purchase
and browsing features at train time; the fitted object is picklable and is stored with the model, so
scoring assigns the same cluster ids and names. Cluster ids are ordered by size at fit time (0 = largest).
Names come from how each cluster sits against the whole base (see ``docs/segments.md``): a trait is named only
when the cluster's mean percentile is far from the middle *and* its mean of the raw column lies on the same side
of the base's mean (the profile table shows those means), so a name never contradicts the profile. How recent the
customers' last purchase is always enters a name when it stands out: a cluster of high spenders who have not
bought for a year is "lapsed high-spend ...", not "high-spend ...". Value words say "spend" (historical), not
"value", so they are not confused with the predicted value tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.impute import SimpleImputer
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, RobustScaler
from sklearn.utils.validation import check_is_fitted

from churnkit.errors import ConfigError, InputError, ModelError
from churnkit.segments.cluster_names import DIMENSIONS, name_clusters

DEFAULT_CLUSTER_FEATURES: tuple[str, ...] = (
    # purchases
    "orders",
    "total_spend",
    "days_since_last_purchase",
    "T",
    "orders_90d",
    "revenue_90d",
    # browsing (absent or NaN when the shop has no events)
    "sessions_90d",
    "product_views_90d",
    "add_to_carts_90d",
    "cart_abandonment_rate",
    "days_since_last_visit",
    "browse_to_buy",
)
"""Columns used when ``features=None``: those present and not entirely missing at fit time."""

N_INIT = 10
SELECTION_SAMPLE = 10_000
"""At most this many rows (a seeded sample) are used to choose k by silhouette."""
SILHOUETTE_SAMPLE = 5_000


PROFILE_RENAMES = {"T": "customer_age_days"}


def profile_column(feature: str) -> str:
    """The profile's column for a feature's cluster mean: ``avg_<feature>`` (``T`` → ``avg_customer_age_days``)."""
    return "avg_" + PROFILE_RENAMES.get(feature, feature)


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: a log that keeps zeros and negative values (returns)."""
    x = np.asarray(x, dtype="float64")
    return np.sign(x) * np.log1p(np.abs(x))


def _make_pipeline(n_clusters: int, random_state: int) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("log", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
            ("scale", RobustScaler()),
            ("kmeans", KMeans(n_clusters=n_clusters, n_init=N_INIT, random_state=random_state)),
        ]
    )


def _numeric_frame(features: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    out = {}
    for col in columns:
        values = pd.to_numeric(features[col], errors="coerce")
        bad = values.isna() & ~features[col].isna()
        if bad.any():
            raise InputError(
                f"Column {col} must be numeric ({int(bad.sum())} non-numeric values)", column=col
            )
        out[col] = values.astype("float64")
    frame = pd.DataFrame(out, index=features.index, columns=list(columns))
    return frame.replace([np.inf, -np.inf], np.nan)


def _midrank_pct(values: pd.Series) -> pd.Series:
    """Percentile of each value in (0, 1) by average rank; the base's mean is exactly 0.5."""
    n = values.notna().sum()
    return (values.rank(method="average") - 0.5) / n if n else values * np.nan


def _align(series: pd.Series | Sequence[Any] | None, features: pd.DataFrame, what: str) -> pd.Series | None:
    """Align labels/revenue to the rows of ``features``: by index if it matches, else by customer_id."""
    if series is None:
        return None
    if not isinstance(series, pd.Series):
        values = np.asarray(series)
        if len(values) != len(features):
            raise InputError(f"{what} has {len(values)} values for {len(features)} customers")
        return pd.Series(values, index=features.index)
    if series.index.equals(features.index):
        return series
    if series.index.has_duplicates:
        raise InputError(f"{what} must be indexed like the features table or by unique customer_id")
    aligned = series.reindex(features["customer_id"].to_numpy())
    if aligned.isna().all() and len(features):
        raise InputError(
            f"{what} shares no rows with the features table (index by customer_id or match its index)"
        )
    return pd.Series(aligned.to_numpy(), index=features.index)


class BehaviourClusters(BaseEstimator):
    """KMeans on log/robust-scaled purchase and browsing features, with named clusters.

    ``n_clusters=None`` chooses k in ``k_range`` (inclusive) by silhouette (ties: smaller k).
    ``features=None`` uses the ``DEFAULT_CLUSTER_FEATURES`` present in the fit table.
    """

    def __init__(
        self,
        *,
        n_clusters: int | None = None,
        k_range: tuple[int, int] = (3, 8),
        features: Sequence[str] | None = None,
        random_state: int = 0,
    ):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.features = features
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------------
    def _check_params(self) -> tuple[int, int]:
        if self.n_clusters is not None and (
            isinstance(self.n_clusters, bool)
            or not isinstance(self.n_clusters, (int, np.integer))
            or self.n_clusters < 2
        ):
            raise ConfigError(f"n_clusters must be a whole number >= 2 or None, got {self.n_clusters!r}")
        try:
            lo, hi = (int(k) for k in self.k_range)
        except (TypeError, ValueError):
            raise ConfigError(
                f"k_range must be a (low, high) pair of whole numbers, got {self.k_range!r}"
            ) from None
        if not 2 <= lo <= hi:
            raise ConfigError(f"k_range must satisfy 2 <= low <= high, got {self.k_range!r}")
        return lo, hi

    def _select_features(self, features: pd.DataFrame) -> list[str]:
        if self.features is not None:
            cols = list(self.features)
            if not cols:
                raise ConfigError("features must name at least one column")
            for col in cols:
                if col not in features.columns:
                    raise InputError(f"Required column {col} missing from the features table", column=col)
            return cols
        cols = [c for c in DEFAULT_CLUSTER_FEATURES if c in features.columns and features[c].notna().any()]
        if not cols:
            raise InputError(
                "None of the default clustering columns are present: " + ", ".join(DEFAULT_CLUSTER_FEATURES)
            )
        return cols

    def fit(
        self,
        features: pd.DataFrame,
        *,
        churned: pd.Series | None = None,
        revenue: pd.Series | None = None,
    ) -> BehaviourClusters:
        """Fit the pipeline, choose k if needed, order ids by size, name and profile the clusters."""
        lo, hi = self._check_params()
        if not isinstance(features, pd.DataFrame) or "customer_id" not in features.columns:
            raise InputError(
                "Required column customer_id missing from the features table", column="customer_id"
            )
        cols = self._select_features(features)
        X = _numeric_frame(features, cols)
        prep = _make_pipeline(2, self.random_state)[:-1]
        Xt = prep.fit_transform(X)
        n_distinct = len(np.unique(np.round(Xt, 12), axis=0))
        if n_distinct < 2:
            raise InputError(
                f"Clustering needs at least 2 customers with different features, got {n_distinct}"
            )

        scores: dict[int, float] = {}
        if self.n_clusters is not None:
            k = int(self.n_clusters)
            if k > n_distinct:
                raise InputError(f"n_clusters={k} but only {n_distinct} customers have different features")
        else:
            candidates = [k for k in range(lo, hi + 1) if k < n_distinct]
            if candidates:
                rng = np.random.RandomState(self.random_state)
                sample = (
                    Xt
                    if len(Xt) <= SELECTION_SAMPLE
                    else Xt[rng.choice(len(Xt), SELECTION_SAMPLE, replace=False)]
                )
                for cand in candidates:
                    labels = KMeans(
                        n_clusters=cand, n_init=N_INIT, random_state=self.random_state
                    ).fit_predict(sample)
                    scores[cand] = self._silhouette(sample, labels)
                k = max(candidates, key=lambda c: (np.nan_to_num(scores[c], nan=-2.0), -c))
            else:
                k = min(lo, n_distinct)

        pipeline = _make_pipeline(k, self.random_state)
        raw_labels = pipeline.fit_predict(X)
        sizes = np.bincount(raw_labels, minlength=k)
        order = sorted(range(k), key=lambda lab: (-sizes[lab], lab))
        label_map = np.empty(k, dtype="int64")
        label_map[order] = np.arange(k)

        self.pipeline_ = pipeline
        self.features_ = cols
        self.label_map_ = label_map
        self.n_clusters_ = k
        self.silhouette_by_k_ = scores
        self.silhouette_ = self._silhouette(Xt, raw_labels)

        clusters = label_map[raw_labels]
        self.percentiles_, self.mean_sides_ = self._percentiles(features, clusters)
        recency = None
        if "days_since_last_purchase" in features.columns:
            days = _numeric_frame(features, ["days_since_last_purchase"])["days_since_last_purchase"]
            recency = days.groupby(clusters).median().reindex(range(k))
        self.names_ = name_clusters(self.percentiles_, self.mean_sides_, recency)
        self.profile_ = self.profile(features, churned=churned, revenue=revenue)
        return self

    def _silhouette(self, X: np.ndarray, labels: np.ndarray) -> float:
        n_labels = len(np.unique(labels))
        if not 2 <= n_labels <= len(X) - 1:
            return float("nan")
        size = min(len(X), SILHOUETTE_SAMPLE)
        return float(silhouette_score(X, labels, sample_size=size, random_state=self.random_state))

    def _percentiles(self, features: pd.DataFrame, clusters: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per cluster (rows: ids) and naming dimension (columns): the mean base percentile, and the sign of
        the cluster's mean minus the base's mean of the raw column (missing values left out of both means)."""
        dims: dict[str, pd.Series] = {}
        used: set[str] = set()
        for key, candidates, *_ in DIMENSIONS:
            used.update(candidates)
            for col in candidates:
                if col in features.columns and pd.to_numeric(features[col], errors="coerce").notna().any():
                    dims[key] = _numeric_frame(features, [col])[col]
                    break
        for col in self.features_:
            if col not in used:
                dims[col] = _numeric_frame(features, [col])[col]
        pct = pd.DataFrame({key: _midrank_pct(values) for key, values in dims.items()}, index=features.index)
        means = pct.groupby(clusters).mean()
        raw = pd.DataFrame(dims, index=features.index)
        sides = np.sign(raw.groupby(clusters).mean() - raw.mean())
        ids = range(self.n_clusters_)
        return means.reindex(ids), sides.reindex(ids)

    # -- scoring ---------------------------------------------------------------------------------
    def _assign(self, features: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        if not isinstance(features, pd.DataFrame):
            raise InputError(f"Expected a pandas DataFrame of features, got {type(features).__name__}")
        missing = [c for c in self.features_ if c not in features.columns]
        if missing:
            raise ModelError(f"The clusters were fitted on columns missing here: {', '.join(missing)}")
        if len(features) == 0:
            return np.empty(0, dtype="int64")
        return self.label_map_[self.pipeline_.predict(_numeric_frame(features, self.features_))]

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """``customer_id``, ``cluster`` (id) and ``segment`` (readable name) per row; index kept."""
        clusters = self._assign(features)
        if "customer_id" not in features.columns:
            raise InputError(
                "Required column customer_id missing from the features table", column="customer_id"
            )
        return pd.DataFrame(
            {
                "customer_id": features["customer_id"].to_numpy(),
                "cluster": clusters,
                "segment": pd.array(
                    np.array([self.names_[i] for i in range(self.n_clusters_)], dtype=object)[clusters],
                    dtype="str",
                ),
            },
            index=features.index,
        )

    def profile(
        self,
        features: pd.DataFrame,
        *,
        churned: pd.Series | None = None,
        revenue: pd.Series | None = None,
    ) -> pd.DataFrame:
        """Per cluster: size, share, ``avg_<feature>`` means, churn_rate and revenue_share (sizes sum to the rows).

        ``T`` is shown as ``avg_customer_age_days`` (days from the first purchase to the day before as_of).
        ``churn_rate`` is the *realized* churn rate, only when ``churned`` labels are given (no column
        otherwise). ``revenue=None`` uses ``total_spend`` when present (historical revenue share).
        Series align by index or by customer_id.
        """
        clusters = self._assign(features)
        ids = pd.Index(range(self.n_clusters_), name="cluster")
        X = _numeric_frame(features, self.features_)
        size = pd.Series(np.bincount(clusters, minlength=self.n_clusters_), index=ids)
        total = int(size.sum())
        out = pd.DataFrame(
            {
                "cluster": ids,
                "name": [self.names_[i] for i in ids],
                "size": size.to_numpy(),
                "share": (size / total).to_numpy() if total else np.zeros(len(ids)),
            }
        )
        means = X.groupby(clusters).mean().reindex(ids)
        for col in self.features_:
            out[profile_column(col)] = means[col].to_numpy()

        churn = _align(churned, features, "churned")
        if churn is not None:
            churn = pd.to_numeric(churn.astype("float64"), errors="coerce")
            out["churn_rate"] = churn.groupby(clusters).mean().reindex(ids).to_numpy()

        if revenue is None and "total_spend" in features.columns:
            revenue = features["total_spend"]
        rev = _align(revenue, features, "revenue")
        if rev is None:
            out["revenue_share"] = np.nan
        else:
            rev = pd.to_numeric(rev, errors="coerce").astype("float64")
            total_rev = rev.sum()
            by_cluster = rev.groupby(clusters).sum().reindex(ids, fill_value=0.0)
            out["revenue_share"] = (by_cluster / total_rev).to_numpy() if total_rev else np.nan
        return out
