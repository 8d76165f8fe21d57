"""The `segment` job: RFM segments and behavioural clusters for a base, with or without a trained model.

Without a model, clusters are fitted on the fly on this base; with one, its stored clusters and RFM cut points
are used. ``segments.csv`` is segment-only (it does not repeat the score table): customer_id, as_of, the RFM
segment and score with its R/F/M parts, and the cluster id and name (``SEGMENT_COLUMNS``). The profile
(``segments_profile.csv``) has one row per cluster; with a model it also holds the cluster's mean predicted
churn probability and CLV and its share of high-risk customers (predictions, named as such: the realized
churn rate needs labels, which a scoring date does not have yet). See ``docs/outputs.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from churnkit.config import Config
from churnkit.data.io import write_table
from churnkit.data.load import ShopData
from churnkit.data.readiness import check_as_of, default_as_of
from churnkit.data.shop import load_shop
from churnkit.errors import DataTooShortError
from churnkit.jobs.features import feature_table
from churnkit.outputs import format_scores
from churnkit.segments import (
    BehaviourClusters,
    plot_transitions,
    rfm_segments,
    segment_transitions,
)

SEGMENT_COLUMNS = (
    "customer_id",
    "as_of",
    "rfm_segment",
    "rfm_score",
    "r_score",
    "f_score",
    "m_score",
    "cluster",
    "segment",
)
"""Columns of ``segments.csv``."""


def _features(data: ShopData, cfg: Config, as_of: dt.date) -> pd.DataFrame:
    feats = feature_table(data, cfg, as_of)
    if feats.empty:
        raise DataTooShortError(f"no customer has a purchase before {as_of}: empty customer base")
    # DuckDB returns rows in no fixed order; clusters fitted on the fly must not depend on it
    return feats.sort_values("customer_id", ignore_index=True)


def _with_predictions(profile: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Add the clusters' mean predicted churn probability and CLV, and their share of high-risk customers."""
    by = scores.groupby("cluster")
    extra = pd.DataFrame(
        {
            "avg_churn_probability": by["churn_probability"].mean(),
            "high_risk_share": by["risk_tier"].agg(lambda t: float((t == "high").mean())),
            "avg_predicted_clv": by["predicted_clv"].mean(),
        }
    )
    return profile.merge(extra, left_on="cluster", right_index=True, how="left")


def segment_customers(
    data: ShopData,
    cfg: Config,
    *,
    out: str | Path,
    model: Any | None = None,
    compare_to: dt.date | None = None,
) -> dict[str, Path]:
    """Write the segments table (and its profile, and transitions if `compare_to` is given); return the paths."""
    out = Path(out)
    as_of = cfg.as_of or default_as_of(data)
    feats = model.features(data, as_of=as_of) if model is not None else _features(data, cfg, as_of)
    stem = out.name.split(".")[0]
    written: dict[str, Path] = {}
    if model is not None:
        scores = model.score_features(feats)
        rfm = model.rfm_.transform(feats.reset_index(drop=True))
        rfm["customer_id"] = rfm["customer_id"].astype(str)
        table = rfm.merge(scores[["customer_id", "cluster", "segment"]], on="customer_id")
        profile = _with_predictions(model.clusters_.profile(feats), scores)
    else:
        seg = cfg.segments
        rfm = rfm_segments(feats, segment_map=seg.segment_map, bins=seg.rfm_bins)
        clusters = BehaviourClusters(n_clusters=seg.n_clusters, k_range=tuple(seg.k_range)).fit(feats)
        table = rfm.merge(clusters.predict(feats), on="customer_id")
        profile = clusters.profile_
    table["customer_id"] = table["customer_id"].astype(str)
    table["as_of"] = str(as_of)
    table = table[list(SEGMENT_COLUMNS)]
    written["segments"] = write_table(format_scores(table), out)
    written["profile"] = write_table(format_scores(profile), out.with_name(f"{stem}_profile.csv"))
    if compare_to is not None:
        # both dates ranked on their own base, with the same map and bins
        seg = cfg.segments
        before = rfm_segments(
            _features(data, cfg, compare_to), segment_map=seg.segment_map, bins=seg.rfm_bins
        )
        after = rfm_segments(feats, segment_map=seg.segment_map, bins=seg.rfm_bins)
        counts, shares = segment_transitions(before, after)
        written["transitions"] = write_table(counts.reset_index(), out.with_name(f"{stem}_transitions.csv"))
        write_table(shares.reset_index(), out.with_name(f"{stem}_transition_shares.csv"))
        written["transitions heatmap"] = plot_transitions(counts, out.with_name(f"{stem}_transitions.png"))
    return written


@dataclass
class Segments:
    """The files the segment job wrote ({label: path}) and the shop they describe."""

    data: Any
    paths: dict[str, Path] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"{label}: {path}" for label, path in self.paths.items()]


def segment(
    cfg: Config,
    *,
    out: str | Path,
    model: Any = None,
    compare_to: dt.date | None = None,
    data: Any = None,
) -> Segments:
    """`churnkit segment`: load the shop (rows set aside beside ``out``), check the dates, write the segments.

    ``model`` is a trained model or its URI (`load_model`); without one, clusters are fitted on the fly.
    """
    out = Path(out)
    if data is None:
        data = load_shop(cfg, rejected_dir=out.parent)
    check_as_of(data, cfg.as_of, horizon_days=cfg.horizon_days)
    if compare_to is not None:
        check_as_of(data, compare_to, horizon_days=cfg.horizon_days, option="--compare-to")
    if isinstance(model, str):
        from churnkit.tracking.runs import load_model

        model = load_model(model, cfg)
    return Segments(data, segment_customers(data, cfg, out=out, model=model, compare_to=compare_to))
