"""Per-feature attribution of a LightGBM model's raw score: TreeSHAP or path (Saabas) contributions.

The maths behind the churn reasons: :meth:`churnkit.models.churn.ChurnClassifier.contributions` calls
:func:`tree_contributions`, and :mod:`churnkit.models.reasons` turns the contributions into phrases.

``method="shap"``: TreeSHAP (LightGBM's ``pred_contrib``), exact Shapley values; about 27 s per 100,000 rows
on one core of the benchmark machine. ``method="path"``: path attribution (Saabas, XGBoost's
``approx_contribs``): each split on a row's path in each tree credits its feature with the change in the
node's expected output; about 50x faster (``bench/results/scoring.md``), and it agreed with TreeSHAP on the
top feature for 87% of 20,000 customers of the benchmark shop. Per row, either set of contributions plus the
bias sums to the raw score.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Literal, NamedTuple

import lightgbm as lgb
import numpy as np

__all__ = ["ContributionMethod", "path_contributions", "tree_contributions"]

ContributionMethod = Literal["shap", "path"]


def tree_contributions(booster: lgb.Booster, X: np.ndarray, *, method: ContributionMethod) -> np.ndarray:
    """Contributions per feature plus a last bias column (``pred_contrib``'s layout) of encoded rows ``X``."""
    if method == "shap":
        return booster.predict(X, pred_contrib=True)
    if method == "path":
        return path_contributions(booster, X)
    raise ValueError(f"method must be 'shap' or 'path', got {method!r}")


class _Forest(NamedTuple):
    """A LightGBM model flattened for `_walk_and_credit_py`: every split of every tree in numbered arrays.

    Split ``i`` sends a row to ``left[i]`` or ``right[i]``: a number >= 0 is another split, a negative one a
    leaf. ``roots[t]``: tree ``t``'s first split (-1 for a tree that is one leaf). Going left credits split
    ``i``'s feature with ``gain_left[i]``, the change in expected output from the split to its child (right
    likewise). Categorical splits send a category left when its bit is set in the 32-bit words
    ``cats[cat_start[i] : cat_start[i] + cat_len[i]]``, as LightGBM keeps them.
    """

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    kind: np.ndarray  # _CATEGORICAL, or the missing type (0 None, 1 Zero, 2 NaN) plus _DEFAULT_LEFT
    left: np.ndarray
    right: np.ndarray
    gain_left: np.ndarray
    gain_right: np.ndarray
    cat_start: np.ndarray
    cat_len: np.ndarray
    cats: np.ndarray
    bias: float  # the sum of the root outputs: the expected raw score


_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
_DEFAULT_LEFT = 4
_CATEGORICAL = 8


def _forest(booster: lgb.Booster) -> _Forest:
    """The model's trees as `_Forest` arrays, from one walk of ``dump_model()``."""
    splits: list[dict] = []
    roots: list[int] = []
    bias = 0.0
    for tree in booster.dump_model()["tree_info"]:
        root = tree["tree_structure"]
        if "leaf_index" in root:  # a tree with one leaf only shifts the bias
            bias += root["leaf_value"]
            roots.append(-1)
            continue
        bias += root["internal_value"]
        roots.append(len(splits))
        stack = [root]
        while stack:
            node = stack.pop()
            node["_id"] = len(splits)
            splits.append(node)
            stack += [c for c in (node["right_child"], node["left_child"]) if "leaf_index" not in c]

    def child(node: dict, side: str) -> tuple[int, float]:  # its number (-1: a leaf) and the split's gain
        c = node[side]
        if "leaf_index" in c:
            return -1, c["leaf_value"] - node["internal_value"]
        return c["_id"], c["internal_value"] - node["internal_value"]

    columns: dict[str, list[Any]] = {k: [] for k in _Forest._fields[1:-2]}
    cats: list[int] = []
    for node in splits:
        for side, name in (("left_child", "left"), ("right_child", "right")):
            number, gain = child(node, side)
            columns[name].append(number)
            columns[f"gain_{name}"].append(gain)
        columns["feature"].append(node["split_feature"])
        if node["decision_type"] == "==":
            members = [int(c) for c in str(node["threshold"]).split("||")]
            words = np.zeros(max(members) // 32 + 1, dtype=np.uint32)
            for c in members:
                words[c // 32] |= np.uint32(1 << (c % 32))
            columns["cat_start"].append(len(cats))
            columns["cat_len"].append(len(words))
            cats.extend(int(w) for w in words)
            columns["threshold"].append(0.0)
            columns["kind"].append(_CATEGORICAL)
        else:
            columns["cat_start"].append(0)
            columns["cat_len"].append(0)
            columns["threshold"].append(float(node["threshold"]))
            columns["kind"].append(
                _MISSING[node["missing_type"]] | (_DEFAULT_LEFT if node["default_left"] else 0)
            )
    dtypes = {"threshold": np.float64, "gain_left": np.float64, "gain_right": np.float64, "kind": np.uint8}
    arrays = {k: np.asarray(v, dtype=dtypes.get(k, np.int32)) for k, v in columns.items()}
    return _Forest(
        roots=np.asarray(roots, dtype=np.int32), **arrays, cats=np.asarray(cats, dtype=np.uint32), bias=bias
    )


_FORESTS: weakref.WeakKeyDictionary[lgb.Booster, _Forest] = weakref.WeakKeyDictionary()


def _forest_of(booster: lgb.Booster) -> _Forest:
    """`_forest`, worked out once per booster and kept while the booster lives: a served model scores request
    after request with one booster (flattening the demo's 620 trees takes about 0.6 s). A fitted booster is
    not trained further in churnkit; one that is must be a new object to be seen afresh."""
    forest = _FORESTS.get(booster)
    if forest is None:
        forest = _FORESTS[booster] = _forest(booster)
    return forest


_TREE_BLOCK = 32
"""Trees walked by every row of a chunk before the next trees: their splits stay in the CPU cache."""

_ROW_CHUNK = 25_000
"""Rows per task of :func:`path_contributions` (the two workers take turns)."""

_ZERO = float(np.float32(1e-35))
"""LightGBM's kZeroThreshold: a value this close to 0 is zero, for a split whose missing type is Zero."""


def _walk_and_credit_py(
    X: np.ndarray,
    roots: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    kind: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    gain_left: np.ndarray,
    gain_right: np.ndarray,
    cat_start: np.ndarray,
    cat_len: np.ndarray,
    cats: np.ndarray,
    total: np.ndarray,
) -> None:  # pragma: no cover - the numba kernel below runs this code; kept plain for reading
    """Walk each row of ``X`` down every tree as LightGBM's predictor does (``Tree::NumericalDecision`` and
    ``CategoricalDecision``), adding each split's gain on the way to the row's ``total`` for its feature:
    trees in order (``_TREE_BLOCK`` at a time for all rows), splits from the root down."""
    n_trees = roots.shape[0]
    for first in range(0, n_trees, _TREE_BLOCK):
        for i in range(X.shape[0]):
            for t in range(first, min(first + _TREE_BLOCK, n_trees)):
                node = roots[t]
                while node >= 0:
                    f = feature[node]
                    v = X[i, f]
                    k = kind[node]
                    if k & _CATEGORICAL:  # NaN and negatives go right; a category in the bitset goes left
                        go_left = False
                        if not np.isnan(v) and v >= 0:
                            c = int(v)
                            w = c // 32
                            if w < cat_len[node]:
                                go_left = ((cats[cat_start[node] + w] >> (c % 32)) & 1) == 1
                    else:
                        missing = k & 3
                        if np.isnan(v) and missing != 2:
                            v = 0.0
                        if (missing == 1 and -_ZERO <= v <= _ZERO) or (missing == 2 and np.isnan(v)):
                            go_left = (k & _DEFAULT_LEFT) != 0
                        else:
                            go_left = v <= threshold[node]
                    if go_left:
                        total[i, f] += gain_left[node]
                        node = left[node]
                    else:
                        total[i, f] += gain_right[node]
                        node = right[node]


@functools.cache
def _walk_and_credit() -> Any:
    """`_walk_and_credit_py` compiled by numba (``nogil``: the two worker threads run it at once; ``cache``:
    compiled once per install, not per process, where the package folder or a user cache folder is writable)."""
    import numba

    try:
        return numba.njit(nogil=True, cache=True)(_walk_and_credit_py)
    except RuntimeError:  # no writable cache location: compile in each process (about a second)
        return numba.njit(nogil=True)(_walk_and_credit_py)


def path_contributions(booster: lgb.Booster, X: np.ndarray, *, chunk: int = _ROW_CHUNK) -> np.ndarray:
    """Path (Saabas) contributions per feature plus a last bias column, as ``pred_contrib`` lays them out.

    A numba kernel (`_walk_and_credit_py`) walks each row down every tree of the flattened model
    (`_forest`), as LightGBM's predictor does, crediting each split's feature with the split's gain on the
    way. Rows go ``chunk`` at a time through two worker threads; the kernel releases the GIL. On the demo's
    620-tree model, 100,000 rows took 1.46 s where asking LightGBM for each row's leaves (``pred_leaf``) and
    adding up a path table per leaf took 2.70 s; no copy of the booster per thread is needed.
    """
    from concurrent.futures import ThreadPoolExecutor

    forest = _forest_of(booster)
    walk = _walk_and_credit()
    X = np.ascontiguousarray(X, dtype=np.float64)
    n_rows = X.shape[0]
    out = np.empty((n_rows, booster.num_feature() + 1), dtype=np.float64)
    out[:, -1] = forest.bias
    arrays = forest[:-1]

    def rows(start: int) -> None:
        part = X[start : start + chunk]
        total = np.zeros((part.shape[0], out.shape[1] - 1))  # per row and feature, the sum over the trees
        walk(part, *arrays, total)
        out[start : start + part.shape[0], :-1] = total

    starts = list(range(0, n_rows, chunk))
    if len(starts) <= 1:
        for start in starts:
            rows(start)
        return out
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="churnkit-reasons") as pool:
        list(pool.map(rows, starts))  # list(): re-raise a worker's exception here
    return out
