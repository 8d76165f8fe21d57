"""The BTYD fallback chain: ``fit_btyd`` tries the configured model, then the others; a fit failure never raises.

What happened is one JSON-ready outcome record (``BTYDFit.outcome``) and at most one typed warning.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from churnkit.errors import ModelError
from churnkit.models.btyd.fitting import (
    DEFAULT_RETRY_PENALIZERS,
    BoundaryWarning,
    ConvergenceWarning,
    FallbackWarning,
    exception_text,
)
from churnkit.models.btyd.model import MODEL_LABELS, BTYDModel, ModelName, check_model_name
from churnkit.models.btyd.rfm import validate


@dataclass(frozen=True)
class BTYDFit:
    """What ``fit_btyd`` got: the fitted model (None when every model failed) and a JSON-ready outcome."""

    model: BTYDModel | None
    outcome: dict[str, Any]


_WARNING_ORDER: tuple[type[Warning], ...] = (
    FallbackWarning,
    BoundaryWarning,
    ConvergenceWarning,
    UserWarning,
)
_FIT_FAILURES = (ModelError, ValueError, ArithmeticError)


def fit_btyd(
    rfm: pd.DataFrame,
    *,
    model: ModelName = "bgnbd",
    penalizer: float = 0.0,
    spend_penalizer: float = 0.0,
    fallback: Sequence[ModelName] = ("bgnbd", "mbgnbd", "pareto"),
    retry_penalizers: Sequence[float] = DEFAULT_RETRY_PENALIZERS,
) -> BTYDFit:
    """Fit ``model``, else the other models of ``fallback`` in order; never raise for a fit failure.

    Each model is a ``BTYDModel(...).fit(rfm)`` with its penalizer retries and boundary acceptance
    ("no dropout visible yet": see ``boundary.accept_boundary``); Gamma-Gamma failures fall back to
    a shrunk mean spend inside ``fit``. The first model that fits is returned; when none does (no
    repeat buyer at all, too few customers, ...) ``model`` is None and the caller goes on without BTYD
    outputs.

    Raises only for caller mistakes: ``ConfigError`` (unknown model name, bad penalizer) and
    ``InputError`` (a table that breaks the RFM contract: missing column, recency > T, ...).

    The warnings of the individual fits are collected into ``outcome["warnings"]`` and one warning
    is emitted instead, with ``outcome["message"]`` as text: ``FallbackWarning`` when another model,
    no model or the fallback spend was used, else ``BoundaryWarning`` for an accepted boundary, else
    ``ConvergenceWarning`` for penalizer retries (others pass through unchanged).

    ``outcome`` (JSON-serialisable): ``requested``, ``model`` (the one used or None), ``penalizer``,
    ``spend_penalizer``, ``boundary`` (str or None), ``spend_fallback`` (str or None), ``fallback``
    (``[{"model", "reason"}]`` of the models tried that failed), ``params``, ``spend_params``,
    ``n_customers``, ``n_repeat_customers``, ``seconds``, ``message`` (one plain line, or None when
    nothing needs saying) and ``warnings``.
    """
    started = time.perf_counter()
    order = list(dict.fromkeys([model, *fallback]))
    for name in order:
        check_model_name(name)
    BTYDModel(
        model, penalizer=penalizer, spend_penalizer=spend_penalizer, retry_penalizers=retry_penalizers
    )._check_params()
    data = validate(rfm)  # input mistakes raise here, once, not as a fit failure of each model

    failures: list[dict[str, str]] = []
    collected: list[warnings.WarningMessage] = []
    fitted: BTYDModel | None = None
    for name in order:
        candidate = BTYDModel(
            name, penalizer=penalizer, spend_penalizer=spend_penalizer, retry_penalizers=retry_penalizers
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                candidate.fit(rfm)
            except _FIT_FAILURES as exc:
                reason = str(exc) if isinstance(exc, ModelError) else exception_text(exc)
                failures.append({"model": name, "reason": " ".join(reason.split())})
                continue
            finally:
                collected.extend(caught)
        fitted = candidate
        break

    ours = [
        w for w in collected if issubclass(w.category, (ConvergenceWarning, BoundaryWarning, FallbackWarning))
    ]
    for w in collected:
        if w not in ours and not (fitted is not None and str(w.message) in fitted.fit_info_["warnings"]):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    info = fitted.fit_info_ if fitted is not None else {}
    parts: list[str] = []
    category: type[Warning] | None = None
    if fitted is None:
        parts.append(
            "no BTYD model could be fitted ("
            + "; ".join(f"{MODEL_LABELS[f['model']]}: {_short(f['reason'])}" for f in failures)
            + "): BTYD outputs are missing"
        )
        category = FallbackWarning
    else:
        if failures:
            parts.append(
                "; ".join(f"{MODEL_LABELS[f['model']]} failed ({_short(f['reason'])})" for f in failures)
                + f": used {MODEL_LABELS[fitted.model]} instead"
            )
            category = FallbackWarning
        parts.extend(info["warnings"])
        if category is None:
            category = next(
                (
                    c
                    for c in _WARNING_ORDER
                    for w in collected
                    if w.category is c and str(w.message) in info["warnings"]
                ),
                None,
            )
    message = " | ".join(" ".join(p.split()) for p in parts) or None
    outcome = {
        "requested": model,
        "model": None if fitted is None else fitted.model,
        "penalizer": info.get("penalizer"),
        "spend_penalizer": info.get("spend_penalizer"),
        "boundary": info.get("boundary"),
        "spend_fallback": info.get("spend_fallback"),
        "fallback": failures,
        "params": None if fitted is None else dict(fitted.params_),
        "spend_params": None if fitted is None else dict(fitted.spend_params_),
        "n_customers": int(data.x.size),
        "n_repeat_customers": int((data.x > 0).sum()),
        "seconds": time.perf_counter() - started,
        "message": message,
        "warnings": list(
            dict.fromkeys([" ".join(str(w.message).split()) for w in ours] + list(info.get("warnings", [])))
        ),
    }
    if message is not None and category is not None:
        warnings.warn(message, category, stacklevel=2)
    return BTYDFit(model=fitted, outcome=outcome)


def _short(reason: str, limit: int = 300) -> str:
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"
