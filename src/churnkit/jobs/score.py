"""The `score` job: load a model, score the customer base, check drift, choose whom to contact, write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from churnkit.config import Config
from churnkit.data.io import write_table
from churnkit.data.readiness import check_as_of
from churnkit.data.shop import load_shop
from churnkit.progress import job_log
from churnkit.targeting import Selection, select_customers


def _quiet(_msg: str) -> None:
    pass


@dataclass(frozen=True)
class Targeting:
    """Whom to write: everyone ranked, the `top` N, or what ``budget`` pays for at ``cost_per_contact``;
    with ``holdout`` a share kept as a control group (hash of the id with ``holdout_salt``)."""

    top: int | None = None
    budget: float | None = None
    cost_per_contact: float | None = None
    holdout: float | None = None
    holdout_salt: str = "churnkit"


def write_selection(scores: pd.DataFrame, out: str | Path, targeting: Targeting = Targeting()) -> Selection:
    """Rank the scores, choose by ``targeting`` and write the chosen rows to ``out``."""
    t = targeting
    if t.holdout is not None:
        from churnkit.monitoring.holdout import apply_holdout

        selection = apply_holdout(
            scores,
            t.holdout,
            salt=t.holdout_salt,
            top=t.top,
            budget=t.budget,
            cost_per_contact=t.cost_per_contact,
        )
    else:
        selection = select_customers(scores, top=t.top, budget=t.budget, cost_per_contact=t.cost_per_contact)
    write_table(selection.scores, out)
    return selection


def _release(data: Any) -> None:
    """Free the input tables of a shop the job loaded itself once its features are fetched from the engine,
    before their pandas conversion: a DuckDB shop's connection is closed (its tables hold about 2.5 GB of the
    1M-customer benchmark's memory). Its load report stays readable."""
    from churnkit.data.load import ShopData

    if isinstance(data, ShopData):
        data.con.close()


@dataclass
class Scoring:
    """The scored base, what was written (and where), and the drift warning if the inputs moved.

    ``data``: the shop, for its load report (when the job loaded it itself, its tables are released).
    """

    data: Any
    scores: pd.DataFrame
    selection: Selection
    path: Path
    drift_warning: str | None = None

    def lines(self) -> list[str]:
        n, as_of = len(self.scores), self.scores["as_of"].iloc[0]
        lines = [f"{n:,} customers scored at {as_of}; {len(self.selection.scores):,} written → {self.path}"]
        return lines + ([self.selection.summary] if self.selection.summary else [])


def score(
    cfg: Config,
    *,
    model: Any,
    out: str | Path,
    targeting: Targeting = Targeting(),
    data: Any = None,
    log_file: str | Path | None = None,
    progress: Callable[[str], None] = _quiet,
    show: Callable[[str], None] = _quiet,
) -> Scoring:
    """Score the configured shop (or ``data``) at the configured as-of date; write the ``targeting`` pick to ``out``.

    ``model`` is a trained model or a model URI (`load_model`). Rows set aside go beside ``out``.
    ``log_file``: the library log the caller already captures (else a temporary one; churnkit's own warnings
    go to ``show``).
    """
    from churnkit.models.churnkit_model import scoring_date
    from churnkit.monitoring.drift import drift_message, score_features_and_drift

    out = Path(out)
    loaded = data is None
    with job_log(log_file, "score.log", show=show):
        if isinstance(model, str):
            from churnkit.tracking.runs import load_model

            progress("loading the model")
            model = load_model(model, cfg)
        if data is None:
            progress("loading and validating inputs")
            data = load_shop(cfg, rejected_dir=out.parent, read_once=True)
        as_of = check_as_of(data, cfg.as_of, horizon_days=model.horizon_days)
        progress("building features and scoring")
        features = model.features(
            data, as_of=scoring_date(data, as_of), fetched=(lambda: _release(data)) if loaded else None
        )
        scores, drift = score_features_and_drift(model, features)
        del features
    selection = write_selection(scores, out, targeting)
    return Scoring(data, scores, selection, out, drift_message(drift))
