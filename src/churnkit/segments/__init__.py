"""Stage 4 — segments: RFM scores and named segments, behavioural clusters, value × risk actions,
and segment transitions between two as-of dates. See ``docs/segments.md``."""

from churnkit.segments.actions import (
    DEFAULT_ACTION_GRID,
    DEFAULT_SEGMENT_ACTIONS,
    TIERS,
    action_grid,
    recommended_actions,
    risk_cuts,
    segment_action_map,
    value_cuts,
)
from churnkit.segments.cluster_names import name_clusters
from churnkit.segments.clusters import DEFAULT_CLUSTER_FEATURES, BehaviourClusters
from churnkit.segments.rfm import (
    DEFAULT_SEGMENT_MAP,
    SEGMENT_ORDER,
    UNMATCHED_SEGMENT,
    RFMScorer,
    assign_segments,
    quantile_scores,
    rfm_scores,
    rfm_segments,
    validate_segment_map,
)
from churnkit.segments.transitions import NOT_IN_BASE, plot_transitions, segment_transitions

__all__ = [
    "DEFAULT_ACTION_GRID",
    "DEFAULT_CLUSTER_FEATURES",
    "DEFAULT_SEGMENT_ACTIONS",
    "DEFAULT_SEGMENT_MAP",
    "NOT_IN_BASE",
    "SEGMENT_ORDER",
    "TIERS",
    "UNMATCHED_SEGMENT",
    "BehaviourClusters",
    "RFMScorer",
    "action_grid",
    "assign_segments",
    "name_clusters",
    "plot_transitions",
    "quantile_scores",
    "recommended_actions",
    "rfm_scores",
    "rfm_segments",
    "risk_cuts",
    "segment_action_map",
    "segment_transitions",
    "validate_segment_map",
    "value_cuts",
]
