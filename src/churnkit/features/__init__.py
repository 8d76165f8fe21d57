"""Stage 2 — features: point-in-time features, labels and the labelled snapshots of training tables.

Every feature is declared once in :mod:`churnkit.features.catalogue` and computed by one Ibis
expression that runs unchanged on DuckDB and Spark. Only rows strictly before the as-of date
are read; day differences are taken between calendar dates.
"""

from churnkit.features.build import (
    build_features,
    count_prospects,
    feature_columns,
    shop_feature_table,
    shop_features,
    to_frame,
)
from churnkit.features.catalogue import (
    DEFAULT_WINDOWS,
    FEATURES,
    GROUPS,
    LABELS,
    Feature,
    catalogue,
    feature_catalogue_markdown,
)
from churnkit.features.labels import build_labels
from churnkit.features.purchases import rfm_summary
from churnkit.features.training import snapshot_table

__all__ = [
    "DEFAULT_WINDOWS",
    "FEATURES",
    "GROUPS",
    "LABELS",
    "Feature",
    "build_features",
    "build_labels",
    "catalogue",
    "count_prospects",
    "feature_catalogue_markdown",
    "feature_columns",
    "rfm_summary",
    "shop_feature_table",
    "shop_features",
    "snapshot_table",
    "to_frame",
]
