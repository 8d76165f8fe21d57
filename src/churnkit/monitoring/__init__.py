"""Closing the loop after a campaign: control groups, realized metrics, measured lift and drift.

- `holdout`: deterministic target / control assignment at scoring time (same group on every engine);
- `stats`: two-proportion and Welch tests, minimum detectable lift;
- `realized`: re-test an old scores file once its horizon has passed (`evaluate`);
- `campaign`: retention and revenue lift of target over control (`evaluate-campaign`);
- `drift`: population stability index of the model's features and score.

The core never imports MLflow: the evaluation run is logged by `churnkit.tracking.evaluation`.
"""

from churnkit.monitoring.campaign import CampaignResult, measure_campaign
from churnkit.monitoring.drift import psi, reference_distributions
from churnkit.monitoring.holdout import assign_groups, holdout_uniform, select_with_holdout
from churnkit.monitoring.realized import Evaluation, evaluate_scores, realized_outcomes
from churnkit.monitoring.stats import minimum_detectable_lift, two_proportion_test, welch_test

__all__ = [
    "CampaignResult",
    "Evaluation",
    "assign_groups",
    "evaluate_scores",
    "holdout_uniform",
    "measure_campaign",
    "minimum_detectable_lift",
    "psi",
    "realized_outcomes",
    "reference_distributions",
    "select_with_holdout",
    "two_proportion_test",
    "welch_test",
]
