"""The registry's aliases: ``champion_h<H>`` per horizon and ``champion``, moved like with like only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CHAMPION = "champion"


def horizon_alias(horizon_days: int) -> str:
    """The alias that holds the best run of one horizon, e.g. ``champion_h90``."""
    return f"{CHAMPION}_h{int(horizon_days)}"


@dataclass
class Promotion:
    """Which aliases moved to a new version, and one plain line saying why (or why not)."""

    moved: list[str]
    message: str


def alias_holder(client: Any, name: str, alias: str) -> Any:
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception:  # no alias yet: MLflow raises RestException / MlflowException
        return None


def _beats(client: Any, holder: Any, new_auc: float) -> bool:
    old = client.get_run(holder.run_id).data.metrics.get("churn_auc", float("nan"))
    return math.isfinite(new_auc) and (not math.isfinite(old) or new_auc > old)


def move_aliases(
    client: Any,
    name: str,
    version: str | None,
    metrics: dict[str, float],
    promote: bool,
    *,
    horizon_days: int,
) -> Promotion:
    """Move the aliases that this version wins: like with like only.

    ``champion_h<H>`` moves when there is none, when its backtest churn_auc is beaten, or with ``promote``.
    ``champion`` (what ``models:/<name>@champion`` scores) follows the same rule, but only between runs with
    the same horizon (the churn definition "no purchase in [D, D+H)"): a run with another horizon never
    replaces it unless ``promote`` says so explicitly.
    """
    if version is None:
        return Promotion([], "no registered version: aliases unchanged")
    new_auc = metrics.get("churn_auc", float("nan"))
    moved: list[str] = []
    per_h = horizon_alias(horizon_days)
    holder = alias_holder(client, name, per_h)
    if promote or holder is None or _beats(client, holder, new_auc):
        client.set_registered_model_alias(name, per_h, version)
        moved.append(per_h)
    main = alias_holder(client, name, CHAMPION)
    main_h = None if main is None else client.get_run(main.run_id).data.params.get("horizon_days")
    same_h = main_h is None or str(main_h) == str(int(horizon_days))
    if promote or main is None or (same_h and _beats(client, main, new_auc)):
        client.set_registered_model_alias(name, CHAMPION, version)
        moved.append(CHAMPION)
        if promote and not same_h:
            message = (
                f"{CHAMPION} moved to this H = {horizon_days} run by --promote (it held an H = {main_h} run)"
            )
        else:
            message = f"now {' and '.join(moved)}"
    elif not same_h:
        message = (
            f"{CHAMPION} stays with version {main.version} (H = {main_h} days): runs of another horizon never "
            f"replace it; this run is {per_h if per_h in moved else 'not ' + per_h} (use --promote to move {CHAMPION})"
        )
    else:
        message = f"{CHAMPION} stays with version {main.version} (backtest churn_auc not beaten)" + (
            f"; now {per_h}" if per_h in moved else ""
        )
    return Promotion(moved, message)
