"""Control groups at scoring time: a deterministic, engine-independent target / control assignment.

A customer's draw is u = the first 52 bits of SHA-256("<salt>:<customer_id>") / 2^52, a number in [0, 1)
that is exact in a double on every platform; the customer is in ``control`` when u < fraction. The same
customer therefore lands in the same group in every run, on every machine, in pandas and in Spark SQL
(`holdout_uniform_sql`), and the group does not depend on the scores, the row order or the other
customers. Change the salt to draw a fresh control group (e.g. one salt per campaign).

`select_with_holdout` wraps the `--top` / `--budget` pick so that only ``target`` customers are counted and
paid for; the ``control`` customers ranked among them are kept beside, as the comparable control group.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from churnkit.errors import ConfigError
from churnkit.monitoring.stats import minimum_detectable_lift
from churnkit.targeting import Selection, select_customers

__all__ = [
    "CONTROL",
    "DEFAULT_SALT",
    "TARGET",
    "apply_holdout",
    "assign_groups",
    "check_fraction",
    "holdout_uniform",
    "holdout_uniform_sql",
    "select_with_holdout",
]

TARGET, CONTROL = "target", "control"
DEFAULT_SALT = "churnkit"
_BITS = 52  # 13 hex digits: integers below 2^53 are exact in a double, so u is the same everywhere
_SCALE = float(2**_BITS)


def check_fraction(fraction: float) -> float:
    """The holdout fraction as a float strictly between 0 and 1 (ConfigError otherwise)."""
    if isinstance(fraction, bool) or not (0 < float(fraction) < 1):
        raise ConfigError(f"--holdout must be a fraction between 0 and 1 (e.g. 0.1), got {fraction!r}")
    return float(fraction)


def holdout_uniform(customer_ids: pd.Series, *, salt: str = DEFAULT_SALT) -> np.ndarray:
    """Each id's draw in [0, 1): int(sha256(f"{salt}:{id}")[:13 hex], 16) / 2^52 (ids as text).

    The first 8 digest bytes as a big-endian integer, shifted right by 12 bits, are those 13 hex digits.
    """
    prefix = f"{salt}:".encode()
    sha = hashlib.sha256
    texts = pd.Series(customer_ids).astype(str).tolist()
    raw = np.frombuffer(b"".join(sha(prefix + c.encode()).digest()[:8] for c in texts), dtype=">u8")
    return (raw >> np.uint64(64 - _BITS)).astype(np.float64) / _SCALE


def holdout_uniform_sql(column: str = "customer_id", *, salt: str = DEFAULT_SALT) -> str:
    """The same draw as a Spark SQL expression (e.g. ``df.withColumn("u", F.expr(holdout_uniform_sql()))``)."""
    quoted = salt.replace("\\", "\\\\").replace("'", "\\'")
    return (
        f"CAST(conv(substr(sha2(concat('{quoted}:', CAST(`{column}` AS STRING)), 256), 1, 13), 16, 10) AS BIGINT)"
        f" / {_SCALE!r}D"
    )


def assign_groups(customer_ids: pd.Series, fraction: float, *, salt: str = DEFAULT_SALT) -> pd.Series:
    """``control`` for a share ``fraction`` of customers (by their hash draw), ``target`` for the others."""
    fraction = check_fraction(fraction)
    ids = pd.Series(customer_ids)
    labels = np.array([TARGET, CONTROL], dtype=object)[
        (holdout_uniform(ids, salt=salt) < fraction).astype(np.int8)
    ]
    return pd.Series(labels, index=ids.index, name="group", dtype="str")


def select_with_holdout(
    scores: pd.DataFrame,
    *,
    top: int | None = None,
    budget: float | None = None,
    cost_per_contact: float | None = None,
) -> Selection:
    """`select_customers` over the ``target`` customers only, plus the ``control`` customers ranked among them.

    ``--top N`` picks N target customers and ``--budget`` spends only on target customers. The control rows
    kept are those ranked at or above the last chosen target customer (same ranking: expected saved value,
    then id), so both groups are drawn from the same part of the ranking and their outcomes compare.
    """
    if "group" not in scores.columns:
        raise ConfigError("select_with_holdout needs a 'group' column (see assign_groups)")
    ranked = select_customers(scores).scores  # the one ranking: expected saved value, then id
    if top is None and budget is None:
        return Selection(ranked)
    chosen = select_customers(
        ranked[ranked["group"] == TARGET], top=top, budget=budget, cost_per_contact=cost_per_contact
    )
    picked = chosen.scores
    if picked.empty:
        return Selection(picked, chosen.summary + "; control group: 0 customers")
    last = picked.iloc[-1]
    key = ranked["expected_saved_value"]
    above = (key > last["expected_saved_value"]) | (
        (key == last["expected_saved_value"]) & (ranked["customer_id"] <= last["customer_id"])
    )
    control = above & (ranked["group"] == CONTROL)
    out = ranked[ranked["customer_id"].isin(picked["customer_id"]) | control].reset_index(drop=True)
    return Selection(
        out, chosen.summary + f"; control group: {int(control.sum()):,} customers held out (not contacted)"
    )


def apply_holdout(
    scores: pd.DataFrame,
    fraction: float,
    *,
    salt: str = DEFAULT_SALT,
    top: int | None = None,
    budget: float | None = None,
    cost_per_contact: float | None = None,
) -> Selection:
    """Add ``group`` to the scores, make the pick and say whether the groups can show a lift (for `score`).

    The summary ends with the minimum detectable retention lift for the written groups (two-proportion
    test, 80 % power, 5 % two-sided) at their expected retention rate, mean(1 − churn_probability).
    """
    scores = scores.assign(group=assign_groups(scores["customer_id"], fraction, salt=salt).to_numpy())
    selection = select_with_holdout(scores, top=top, budget=budget, cost_per_contact=cost_per_contact)
    written = selection.scores
    n_t = int((written["group"] == TARGET).sum())
    n_c = int((written["group"] == CONTROL).sum())
    rate = float((1 - written["churn_probability"]).mean()) if len(written) else float("nan")
    mde = minimum_detectable_lift(n_t, n_c, rate)
    line = (
        f"holdout {fraction:.0%} (salt {salt!r}): {n_t:,} target, {n_c:,} control; at an expected retention of "
        f"{rate:.1%} the smallest retention lift this can detect (80% power, 5% two-sided) is "
        + (f"{mde * 100:.1f} percentage points" if np.isfinite(mde) else "undefined (a group is empty)")
    )
    summary = "\n".join(s for s in (selection.summary, line) if s)
    return Selection(written, summary)
