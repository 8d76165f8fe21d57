"""churnkit: churn prediction, customer lifetime value and segmentation for non-contractual retail."""

__version__ = "0.1.0"
