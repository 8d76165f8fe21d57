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
from typing import Any, Literal

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


def _path_table(booster: lgb.Booster) -> tuple[np.ndarray, Any, float]:
    """Per leaf of every tree, the path contributions as a sparse (all leaves × features) matrix.

    Returns (first leaf number of each tree, the matrix, the bias = the sum of the root outputs).
    """
    from scipy import sparse

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    offsets: list[int] = []
    bias, total = 0.0, 0
    for tree in booster.dump_model()["tree_info"]:
        offsets.append(total)
        root = tree["tree_structure"]
        if "leaf_index" in root:  # a tree with one leaf only shifts the bias
            bias += root["leaf_value"]
            total += tree["num_leaves"]
            continue
        bias += root["internal_value"]
        stack: list[tuple[dict, dict[int, float]]] = [(root, {})]
        while stack:
            node, credit = stack.pop()
            for side in ("left_child", "right_child"):
                child = node[side]
                leaf = "leaf_index" in child
                out = child["leaf_value"] if leaf else child["internal_value"]
                f = node["split_feature"]
                mine = {**credit, f: credit.get(f, 0.0) + out - node["internal_value"]}
                if leaf:
                    for feature, value in mine.items():
                        rows.append(total + child["leaf_index"])
                        cols.append(feature)
                        vals.append(value)
                else:
                    stack.append((child, mine))
        total += tree["num_leaves"]
    table = sparse.csr_matrix((vals, (rows, cols)), shape=(total, booster.num_feature()))
    return np.asarray(offsets, dtype=np.int64), table, bias


_TREE_BLOCK = 32
"""Trees per ``pred_leaf`` call: one block's nodes stay in the CPU cache while all rows of a chunk go through
them (on the benchmark machine, 620 trees in blocks of 32 took a third of the time of one call for all)."""

_ROW_CHUNK = 25_000
"""Rows per pass of :func:`path_contributions`: a chunk's leaf indices and per-feature sums stay in cache."""


def _add_credits_py(
    leaves: np.ndarray,
    offsets: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    total: np.ndarray,
) -> None:  # pragma: no cover - the numba kernel below runs this code; kept plain for reading
    """For each row, tree by tree in order, add the credits on the path to its leaf to the row's totals.

    ``leaves`` (rows × trees of the block): each row's leaf in each tree; ``offsets``: the first row of each
    of those trees in the path table, a CSR matrix given by (``indptr``, ``indices``, ``data``).
    """
    for i in range(leaves.shape[0]):
        for j in range(leaves.shape[1]):
            g = offsets[j] + leaves[i, j]
            for p in range(indptr[g], indptr[g + 1]):
                total[i, indices[p]] += data[p]


@functools.cache
def _add_credits() -> Any:
    """`_add_credits_py` compiled by numba (``nogil``: the two worker threads run it at once; ``cache``:
    compiled once per install, not per process, where the package folder or a user cache folder is writable)."""
    import numba

    try:
        return numba.njit(nogil=True, cache=True)(_add_credits_py)
    except RuntimeError:  # no writable cache location: compile in each process (about a second)
        return numba.njit(nogil=True)(_add_credits_py)


def path_contributions(booster: lgb.Booster, X: np.ndarray, *, chunk: int = _ROW_CHUNK) -> np.ndarray:
    """Path (Saabas) contributions per feature plus a last bias column, as ``pred_contrib`` lays them out.

    ``pred_leaf`` finds each row's leaf in every tree (``_TREE_BLOCK`` trees per call); a numba kernel
    (`_add_credits_py`) then adds, row by row and tree by tree in order, the few credits on the path to the
    row's leaf (a CSR row of `_path_table`, about six entries): the same additions in the same order as the
    sparse product of the leaf incidence and `_path_table` (bit for bit), without building the incidence
    (one entry per row and tree). Rows go ``chunk`` at a time through two worker threads, each with its own
    copy of the booster (LightGBM's prediction state is shared by concurrent calls with different tree
    ranges); LightGBM and the kernel release the GIL.
    """
    from concurrent.futures import ThreadPoolExecutor

    offsets, table, bias = _path_table(booster)
    indptr, indices, data = (np.ascontiguousarray(a) for a in (table.indptr, table.indices, table.data))
    add = _add_credits()
    n_trees, n_rows = len(offsets), X.shape[0]
    out = np.empty((n_rows, booster.num_feature() + 1), dtype=np.float64)
    out[:, -1] = bias

    def rows(model: lgb.Booster, start: int) -> None:
        part = X[start : start + chunk]
        m = part.shape[0]
        total = np.zeros((m, out.shape[1] - 1))  # per row and feature, the sum over the trees so far
        for first in range(0, n_trees, _TREE_BLOCK):
            k = min(_TREE_BLOCK, n_trees - first)
            leaves = model.predict(
                part, pred_leaf=True, start_iteration=first, num_iteration=k, num_threads=1
            )
            add(
                leaves.reshape(m, k).astype(np.int64),
                offsets[first : first + k],
                indptr,
                indices,
                data,
                total,
            )
        out[start : start + m, :-1] = total

    starts = list(range(0, n_rows, chunk))
    workers = min(2, len(starts))
    if workers <= 1:
        for start in starts:
            rows(booster, start)
        return out
    models = [booster, *(lgb.Booster(model_str=booster.model_to_string()) for _ in range(workers - 1))]

    def work(w: int) -> None:
        for start in starts[w::workers]:
            rows(models[w], start)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="churnkit-reasons") as pool:
        list(pool.map(work, range(workers)))  # list(): re-raise a worker's exception here
    return out
