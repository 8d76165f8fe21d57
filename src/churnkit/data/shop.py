"""`load_shop(cfg)`: the one way every command and the demo load a shop, on the engine the config names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from churnkit.config import Config
from churnkit.errors import InputError


def load_shop(cfg: Config, *, rejected_dir: str | Path | None = None) -> Any:
    """Load the configured inputs with `cfg.engine` (duckdb or spark); rows set aside go to `rejected_dir`."""
    tx = cfg.inputs.transactions.path
    if tx is None and cfg.inputs.transactions.from_events is None:  # else derived from the events file
        raise InputError(
            "no transactions file given: use --transactions or inputs.transactions.path in --config"
        )
    engine: dict[str, Any] = {}
    if cfg.engine == "spark":
        from churnkit.engines.spark import load_shop_spark as load
    else:
        from churnkit.data.load import load_shop as load

        engine = {"duckdb_config": cfg.duckdb}  # memory limit and spill folder
    return load(
        tx,
        cfg.inputs.events.path,
        cfg.inputs.customers.path,
        inputs=cfg.inputs,
        rejected_dir=rejected_dir,
        **engine,
    )
