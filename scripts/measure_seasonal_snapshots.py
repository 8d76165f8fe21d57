"""Seasonal snapshots on or off, on the sample shop (5,000 customers, three years, a Nov-Dec peak).

History cut at each as-of date D (as a shop has it on the day it scores); the truth [D, D + 90) comes from the
generator and is held back from churnkit. Usage: python scripts/measure_seasonal_snapshots.py 2024-11-01 2025-10-01
(the numbers in docs/training.md and the session note of issue 13 come from this script).
"""

from __future__ import annotations

import sys
import time
import warnings

import pandas as pd

from churnkit.config import load_config
from churnkit.data.load import ShopData
from churnkit.datasets.sample_shop import generate_shop
from churnkit.models.metrics import churn_metrics, clv_metrics
from churnkit.pipeline import train


def main(dates: list[str]) -> None:
    warnings.simplefilter("ignore")
    shop = generate_shop(5000, seed=0)
    tx, events = shop.transactions, shop.events
    for day in dates:
        as_of = pd.Timestamp(day)
        window = tx[(tx["timestamp"] >= as_of) & (tx["timestamp"] < as_of + pd.Timedelta(days=90))]
        buyers = set(window.loc[window["amount"] > 0, "customer_id"].astype(str))
        revenue = window.groupby(window["customer_id"].astype(str))["amount"].sum()
        for seasonal in (False, True):
            data = ShopData.from_frames(
                tx[tx["timestamp"] < as_of], events[events["timestamp"] < as_of], shop.customers
            )
            started = time.perf_counter()
            result = train(data, load_config(None, as_of=day, **{"training.seasonal": seasonal}))
            scores = result.scores.set_index("customer_id")
            churned = [int(c not in buyers) for c in scores.index]
            actual = revenue.reindex(scores.index).fillna(0.0).to_numpy()
            churn = churn_metrics(churned, scores["churn_probability"].to_numpy())
            clv = clv_metrics(actual, scores["predicted_clv"].to_numpy())
            print(
                f"D={day} seasonal={seasonal} ({time.perf_counter() - started:.0f} s; seasonal snapshots "
                f"{result.summary['seasonal_as_ofs']}) churn_auc {churn['churn_auc']:.4f} "
                f"churn_ece {churn['churn_ece']:.4f} clv_gini {clv['clv_gini_norm']:.4f} "
                f"total pred/actual {scores['predicted_clv'].sum() / actual.sum():.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:] or ["2024-11-01", "2025-10-01"])
