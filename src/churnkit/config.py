"""Typed, validated configuration read from YAML.

One `Config` object carries everything a run needs: where the inputs are and how their columns map to
the canonical names, the as-of date and horizon, and the settings of each pipeline stage. Unknown keys
and wrong types stop with a `ConfigError` naming the key; command-line flags override file values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from churnkit.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AmountFrom(_Strict):
    """Derive `amount` as quantity × unit price (one row per order line)."""

    quantity: str
    unit_price: str


def _known_zone(v: str) -> str:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(v)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r}; use an IANA name such as UTC or Europe/Berlin") from None
    return v


def _one_character(v: str) -> str:
    v = "\t" if v == "\\t" else v
    if len(v) != 1 or v in ('"', "\n", "\r"):
        raise ValueError(f"the delimiter must be one character other than a quote or a line break, got {v!r}")
    return v


def _known_encoding(v: str) -> str:
    import codecs

    try:
        codecs.lookup(v)
    except LookupError:
        raise ValueError(f"unknown encoding {v!r}; use a name such as utf-8, latin-1 or cp1252") from None
    return v


_TEXT_SETTINGS = {"timezone": _known_zone, "delimiter": _one_character, "encoding": _known_encoding}
"""The check of each text setting of an input table (None means "not set" and is not checked)."""


class TableInput(_Strict):
    """One input table: its file and how its source columns map to canonical names."""

    path: str | None = None
    columns: dict[str, str] = Field(
        default_factory=dict, description="canonical name → source column name (identity when absent)"
    )
    amount_from: AmountFrom | None = None
    cancel_prefix: str | None = Field(
        None, description="order ids starting with this are cancellations (returns)"
    )
    timestamp_format: str | None = Field(
        None, description="strptime format; ISO 8601 (with or without offset) when absent"
    )
    timezone: str = Field("UTC", description="zone of timestamps written without an offset")
    delimiter: str | None = None
    encoding: str | None = Field(None, description="CSV encoding, e.g. latin-1; UTF-8 when absent")

    @field_validator("timezone", "delimiter", "encoding")
    @classmethod
    def _text_setting(cls, v: str | None, info: ValidationInfo) -> str | None:
        return v if v is None else _TEXT_SETTINGS[info.field_name](v)


class FromEvents(_Strict):
    """Transactions derived from the events file's purchase events (a shop with only a clickstream export)."""

    amount: str = Field(description="the events column holding each purchase's price or amount")
    order_id: str | None = Field(
        None, description="the events column that groups purchase lines into orders (e.g. a session id)"
    )


class TransactionsInput(TableInput):
    """The transactions table: a `TableInput`, or derived from purchase events (``from_events``)."""

    from_events: FromEvents | None = None


class EventsInput(TableInput):
    """The browsing events table: a `TableInput` plus how its event names map to the canonical types."""

    vocabulary: Literal["ga4", "segment", "snowplow"] | None = Field(
        None, description="a built-in source vocabulary (docs/inputs.md)"
    )
    event_types: dict[str, list[str]] = Field(
        default_factory=dict,
        description="canonical event type → source event names, e.g. {add_to_cart: [cart, Product Added]}",
    )

    @field_validator("event_types", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> Any:
        if isinstance(v, dict):  # a single name may be written without a list
            return {k: [x] if isinstance(x, str) else x for k, x in v.items()}
        return v

    @field_validator("event_types")
    @classmethod
    def _canonical(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        from churnkit.data.schema import EVENT_TYPES

        wrong = [k for k in v if k not in EVENT_TYPES]
        if wrong:
            raise ValueError(
                f"unknown event type {wrong[0]!r}; the canonical types are {', '.join(EVENT_TYPES)} "
                "(map source names to them: canonical type → list of source names)"
            )
        seen: dict[str, str] = {}
        for canonical, names in v.items():
            for name in names:
                key = name.strip().lower()
                if not key:
                    raise ValueError(f"a blank source event name under {canonical!r}")
                if key in seen and seen[key] != canonical:
                    raise ValueError(
                        f"source event name {name!r} is mapped to both {seen[key]!r} and {canonical!r}"
                    )
                seen[key] = canonical
        return v


class InputsConfig(_Strict):
    transactions: TransactionsInput = Field(default_factory=TransactionsInput)
    events: EventsInput = Field(default_factory=EventsInput)
    customers: TableInput = Field(default_factory=TableInput)


class DuckDBConfig(_Strict):
    """The embedded engine's resources: DuckDB spills to disk above ``memory_limit`` instead of growing."""

    memory_limit: str = Field(
        "3GB",
        description="DuckDB memory_limit (e.g. 3GB, 512MB); DuckDB's own default is 80% of RAM",
    )
    temp_directory: str | None = Field(
        None,
        description="where a per-run spill folder is made (and removed afterwards); the system temp folder when absent",
    )

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|[KMGT]i?B)\s*", v, flags=re.IGNORECASE):
            raise ValueError(f"expected a size such as 3GB or 512MB, got {v!r}")
        return v.strip()


class FeaturesConfig(_Strict):
    windows: list[int] = Field(default_factory=lambda: [30, 90, 180, 365])
    session_gap_minutes: int = Field(30, gt=0)


class TrainingConfig(_Strict):
    """Rolling-origin snapshots (churnkit.features.snapshots): how many, how far apart, how much history each."""

    n_snapshots: int = Field(6, ge=1)
    spacing_days: int = Field(30, ge=1, description="shrinks to 14, then 7 days when fewer snapshots fit")
    min_history_days: int = Field(
        30,
        ge=1,
        description="history a snapshot needs before its as-of date (30: on CDNOW cut at 1997-10-01 it leaves "
        "three backtest snapshots; README)",
    )
    seasonal: bool = Field(
        True,
        description="add snapshots one year before the scoring date when the history covers a year plus H",
    )
    seed: int = Field(0, description="seeds LightGBM, calibration folds, clusters and the customer hold-out")


class ChampionConfig(_Strict):
    """The model that scores each target, chosen separately: churn by churn_auc, CLV by clv_gini_norm."""

    churn: Literal["best", "boosted", "btyd"] = "best"
    clv: Literal["best", "boosted", "btyd"] = "best"


class ModelsConfig(_Strict):
    btyd: Literal["bgnbd", "pareto", "mbgnbd"] = "bgnbd"
    penalizer: float = Field(0.0, ge=0)
    spend_penalizer: float = Field(0.0, ge=0)
    clv_months: int = Field(12, ge=1)
    annual_discount_rate: float = Field(0.10, ge=0)
    calibration: Literal["auto", "isotonic", "sigmoid", "none"] = "auto"
    clv_objective: Literal["auto", "tweedie", "two_part"] = Field(
        "tweedie",
        description="tweedie by default: choosing on one held-out snapshot (auto) preferred two-part, which did "
        "worse on the later test snapshot on CDNOW and on two sample shops (README, model card)",
    )
    champion: ChampionConfig = Field(
        default_factory=lambda: ChampionConfig(),
        description="which model scores each target: best (by backtest churn_auc / clv_gini_norm), boosted or "
        "btyd; one word sets both",
    )

    @field_validator("champion", mode="before")
    @classmethod
    def _one_word_for_both(cls, v: Any) -> Any:
        return {"churn": v, "clv": v} if isinstance(v, str) else v

    prior: Literal["auto", "btyd", "none"] = Field(
        "auto",
        description="btyd: the boosted models start from the BTYD prediction (its log-odds / log revenue) and "
        "learn corrections; none: from the base rate; auto: fit both and keep the better on the held-out snapshot "
        "(churn by log-loss, CLV by Gini)",
    )
    reasons: Literal["path", "shap"] = Field(
        "path",
        description="how top_reasons ranks features: path attribution (fast; 1M customers in seconds) or exact "
        "TreeSHAP (about 50x slower); they agreed on the top feature for 87% of customers (README)",
    )


class SegmentsConfig(_Strict):
    rfm_bins: int = Field(5, ge=2, le=9)
    segment_map: list[dict[str, Any]] | None = None
    n_clusters: int | None = Field(None, ge=2)
    k_range: tuple[int, int] = (3, 8)
    # tiers are learned on the base at the as-of date when the model is fitted (docs/segments.md)
    risk_quantiles: tuple[float, float] = (0.5, 0.8)
    risk_thresholds: tuple[float, float] | None = Field(
        None, description="fixed churn-probability cuts instead of the base's risk_quantiles"
    )
    value_method: Literal["value_share", "quantile"] = "value_share"
    value_shares: tuple[float, float] = (0.5, 0.9)
    value_quantiles: tuple[float, float] = (0.5, 0.8)
    action_grid: dict[str, str] | None = Field(
        None, description='"value_tier/risk_tier" → action, e.g. {"high/high": "win-back offer"}'
    )
    segment_actions: dict[str, dict[str, str]] | None = Field(
        None,
        description='RFM segment → {risk_tier: action}, over the grid, e.g. {"Champions": {"high": "call"}}',
    )
    next_purchase_window_days: int = Field(
        365,
        gt=0,
        description="expected_next_purchase is given only when a purchase within this window is likely",
    )


class TargetingConfig(_Strict):
    save_rate: float = Field(
        0.2, gt=0, le=1, description="share of contacted would-be churners a campaign keeps"
    )


class TrackingConfig(_Strict):
    tracking_uri: str | None = None
    experiment: str = "churnkit"
    registered_model: str = "churnkit"


class Config(_Strict):
    inputs: InputsConfig = Field(default_factory=InputsConfig)
    as_of: dt.date | None = None
    horizon_days: int = Field(90, gt=0)
    engine: Literal["duckdb", "spark"] = "duckdb"
    duckdb: DuckDBConfig = Field(default_factory=DuckDBConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    segments: SegmentsConfig = Field(default_factory=SegmentsConfig)
    targeting: TargetingConfig = Field(default_factory=TargetingConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @field_validator("as_of", mode="before")
    @classmethod
    def _parse_date(cls, v: Any) -> Any:
        from churnkit.dates import parse_optional_date

        try:
            return parse_optional_date(v, name="as_of")
        except ConfigError as e:
            raise ValueError(str(e)) from None

    def flat(self) -> dict[str, str]:
        """The configuration flattened to dotted keys (MLflow params)."""
        out: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict) and value:
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = "" if value is None else str(value)

        walk("", self.model_dump(mode="json"))
        return out


def _format_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'"
    return f"{source}: invalid value for '{key}': {first['msg']}"


PACKAGED = ("default", "cdnow")
"""Configs shipped inside the package (``src/churnkit/configs/``, copies of the repository's ``configs/``)."""


def packaged_config(name: str) -> Path:
    """The file of a packaged config: ``default`` (the sample shop) or ``cdnow`` (CDNOW master)."""
    from importlib.resources import files

    stem = name.removesuffix(".yaml")
    if stem not in PACKAGED:
        raise ConfigError(f"no packaged config named {name!r}; packaged configs: {', '.join(PACKAGED)}")
    return Path(str(files("churnkit") / "configs" / f"{stem}.yaml"))


def resolve_config_path(path: str | Path) -> Path:
    """A config file: ``path`` if it exists, else the packaged config of that name (``default``, ``cdnow``)."""
    p = Path(path)
    if p.exists() or str(path).removesuffix(".yaml") not in PACKAGED:
        return p
    return packaged_config(str(path))


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Read a YAML config (or defaults) and apply overrides given as dotted keys, e.g. ``horizon_days=60``.

    ``path`` is a file, or the name of a packaged config (``default``, ``cdnow``) when no such file exists.
    Relative input paths in the file are resolved against the file's folder. Overrides that are None are ignored.
    """
    data: dict[str, Any] = {}
    source = "configuration"
    if path is not None:
        p = resolve_config_path(path)
        source = str(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"config file not found: {p} (packaged configs, usable from any folder: {', '.join(PACKAGED)})"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read config file {p}: {e}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping of keys at the top level")
        _resolve_paths(data, p.parent)
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_error(e, source)) from None


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    inputs = data.get("inputs")
    if not isinstance(inputs, dict):
        return
    for table in inputs.values():
        if isinstance(table, dict) and isinstance(table.get("path"), str):
            raw = table["path"]
            if ":" in raw.split("/")[0] and not Path(raw).is_absolute():
                continue  # a pseudo-path such as cdnow:master
            if not Path(raw).is_absolute():
                table["path"] = str((base / raw).resolve())
