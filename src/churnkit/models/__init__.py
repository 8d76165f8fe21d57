"""Stage 3 — models: BTYD models and Gamma-Gamma spend (``btyd``), then gradient-boosted churn and CLV."""
