"""Population stability index (PSI) of the model's features and score: training base vs scored base.

``reference_distributions`` learns, at fit time, each column's bins and the training share in each bin:
numeric columns get up to ten quantile bins (edges at the training deciles, open at both ends) plus a
missing-value bin; text columns get their categories (the 20 most frequent, the rest as ``__other__``) plus
missing. ``psi`` puts a new frame into the same bins and sums, over bins,
(share_new − share_ref) · ln(share_new / share_ref), with shares floored at 1e-4 so an empty bin stays finite.
Rules of thumb: below 0.1 stable, 0.1–0.2 some shift, above 0.2 a shift worth a look.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DRIFT_THRESHOLD",
    "drift_message",
    "fit_reference",
    "psi",
    "reference_distributions",
    "score_and_drift",
    "score_features_and_drift",
]

DRIFT_THRESHOLD = 0.2
_EPS = 1e-4
_MAX_CATEGORIES = 20
_OTHER = "__other__"
SCORED = ("churn_probability", "p_alive", "expected_purchases")  # compared from the score table itself
_MAX_ROWS = 200_000  # quantile edges do not need more rows; a seeded sample keeps fit time flat


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def reference_distributions(table: pd.DataFrame, columns: list[str], *, bins: int = 10) -> dict[str, Any]:
    """Bin edges (numeric) or categories (text) and the share of ``table``'s rows in each bin, per column.

    Plain Python lists and floats only (the dict pickles with the model and dumps to JSON).
    """
    if len(table) > _MAX_ROWS:
        table = table.sample(_MAX_ROWS, random_state=0)
    out: dict[str, Any] = {}
    for col in columns:
        if col not in table.columns:
            continue
        s = table[col]
        if _is_numeric(s):
            x = s.to_numpy(dtype=float, na_value=np.nan)
            x = np.where(np.isfinite(x), x, np.nan)
            ok = x[~np.isnan(x)]
            edges = np.unique(np.quantile(ok, np.linspace(0, 1, bins + 1)[1:-1])) if ok.size else np.array([])
            counts = _numeric_counts(x, edges)
            out[col] = {"kind": "numeric", "edges": [float(e) for e in edges], "shares": _shares(counts)}
        else:
            text = s.astype("object").where(s.notna(), None)
            freq = text.dropna().astype(str).value_counts()
            cats = sorted(freq.index[:_MAX_CATEGORIES].tolist())
            counts = _category_counts(text, cats)
            out[col] = {"kind": "category", "categories": cats, "shares": _shares(counts)}
    return out


def _numeric_counts(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin: (-inf, e1], (e1, e2], ..., (e_k, inf), then missing."""
    missing = np.isnan(x)
    idx = np.searchsorted(edges, x[~missing], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return np.append(counts, float(missing.sum()))


def _category_counts(text: pd.Series, cats: list[str]) -> np.ndarray:
    missing = text.isna().to_numpy()
    values = text[~missing].astype(str)
    known = values.value_counts()
    counts = [float(known.get(c, 0)) for c in cats]
    other = float(len(values) - sum(counts))
    return np.array([*counts, other, float(missing.sum())])


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


def psi(reference: dict[str, Any], frame: pd.DataFrame) -> pd.Series:
    """PSI of every reference column present in ``frame``, largest first (NaN for an empty frame)."""
    return _largest_first(_psi_values(reference, frame))


def _largest_first(values: dict[str, float]) -> pd.Series:
    return pd.Series(values, name="psi", dtype=float).sort_values(ascending=False)


def _psi_values(reference: dict[str, Any], frame: pd.DataFrame) -> dict[str, float]:
    """`psi` as a dict in the reference's column order."""
    values: dict[str, float] = {}
    for col, ref in reference.items():
        if col not in frame.columns:
            continue
        s = frame[col]
        if ref["kind"] == "numeric":
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            x = np.where(np.isfinite(x), x, np.nan)
            counts = _numeric_counts(x, np.asarray(ref["edges"], dtype=float))
        else:
            counts = _category_counts(s.astype("object").where(s.notna(), None), list(ref["categories"]))
        if counts.sum() == 0:
            values[col] = math.nan
            continue
        new = np.maximum(counts / counts.sum(), _EPS)
        old = np.maximum(np.asarray(ref["shares"], dtype=float), _EPS)
        values[col] = float(np.sum((new - old) * np.log(new / old)))
    return values


def fit_reference(model: Any, base: pd.DataFrame, churn_probability: Any) -> dict[str, Any]:
    """The reference of a fitted `ChurnkitModel`: its inputs and churn score on the customer base at the
    training as-of date, as the model scores it (``base``: features and BTYD columns, from ``_predict``).

    The stacked training snapshots are not the reference: their shorter histories and per-snapshot BTYD
    fits differ from any base at D, so a shop scored on the day it was trained showed drift (7 of 59 inputs
    above 0.2 on the 300-customer sample shop). Scored at D, the same shop now gives PSI 0.
    """
    from churnkit.outputs import format_scores

    frame = base.assign(churn_probability=np.asarray(churn_probability, dtype=float))
    # the score columns are compared as the score table carries them: rounded by the output contract
    # (expected_purchases to 2 decimals moved near-zero values across the reference's fine edges: PSI 1.56)
    frame = frame.assign(**format_scores(frame[list(SCORED)]))
    return reference_distributions(frame, [*model.input_columns_, "churn_probability"])


def score_and_drift(model: Any, data: Any, *, as_of: Any = None) -> tuple[pd.DataFrame, pd.Series | None]:
    """``model.score(data, as_of=...)`` plus the PSI of its features and churn score against the training base.

    The PSI is None for a model trained before drift references existed. BTYD outputs the score table does
    not carry (P(no purchase), expected spend, discounted CLV inside the features) are left out.
    """
    from churnkit.models.churnkit_model import scoring_date

    return score_features_and_drift(model, model.features(data, as_of=scoring_date(data, as_of)))


def score_features_and_drift(model: Any, features: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series | None]:
    """`score_and_drift` of a feature table (``model.features``): its scores and their PSI."""
    reference = getattr(model, "drift_reference_", None)
    if not reference:
        return model.score_features(features), None
    # the inputs' PSI is worked out in a worker thread while the model scores (single-threaded steps of the
    # scoring leave the second core free); the score columns' PSI is read from the score table itself
    inputs = {col: ref for col, ref in reference.items() if col not in SCORED}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="churnkit-drift") as pool:
        of_inputs = pool.submit(_psi_values, inputs, features)
        scores = model.score_features(features)
        values = {
            **of_inputs.result(),
            **_psi_values({c: reference[c] for c in SCORED if c in reference}, scores),
        }
    return scores, _largest_first({col: values[col] for col in reference if col in values})


def drift_message(
    values: pd.Series | None, *, threshold: float = DRIFT_THRESHOLD, top: int = 5
) -> str | None:
    """One line naming the columns whose PSI is above ``threshold`` (None when nothing drifted)."""
    if values is None:
        return None
    high = values[values > threshold]
    if high.empty:
        return None
    named = ", ".join(f"{k} {v:.2f}" for k, v in high.head(top).items())
    more = f" and {len(high) - top} more" if len(high) > top else ""
    return (
        f"drift: {len(high)} of {len(values)} model inputs/score moved since training (PSI > {threshold}): "
        f"{named}{more}"
    )
