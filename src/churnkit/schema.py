"""The column schema shared by training and scoring: the keys, the label columns, the BTYD outputs and the
score table (``docs/outputs.md``). Names only, no logic: every stage imports them from here.
"""

from __future__ import annotations

KEYS = ("customer_id", "as_of")
"""The key of every feature, training and score table."""

LABEL_COLUMNS = ("churned", "future_revenue", "future_purchases")
"""The label columns of a labelled snapshot (their declarations, with meaning and unit, are
``churnkit.features.catalogue.LABELS``)."""

BTYD_COLUMNS = ("p_alive", "expected_purchases", "p_no_purchase", "expected_spend", "clv")
"""The BTYD outputs added to a snapshot as model inputs of the boosted models."""

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
"""The score table's columns, in order."""
