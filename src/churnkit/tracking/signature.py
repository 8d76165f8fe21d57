"""What a logged model tells its users: the pyfunc signature, an input example and the feature schema."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import pandas as pd

from churnkit.data.load import ShopData
from churnkit.models.churnkit_model import ChurnkitModel


def input_example(data: ShopData, *, n_customers: int = 5) -> pd.DataFrame:
    """A few customers' raw rows in the pyfunc's long form: a ``table`` column plus the canonical columns.

    Values are what a file holds (timestamps as text, missing values as None), so the example is valid JSON
    for ``mlflow models serve``. Engine-neutral (DuckDB or Spark tables through Ibis).
    """
    tx = data.ibis("transactions")
    ids = (
        tx.filter(~tx.is_return)
        .select("customer_id")
        .distinct()
        .order_by("customer_id")
        .limit(n_customers)
        .to_pandas()["customer_id"]
        .astype(str)
        .tolist()
    )
    parts = []
    for name in data.names:
        t = data.ibis(name)
        part = t.filter(t.customer_id.cast("string").isin(ids)).to_pandas()
        part = part.drop(columns=[c for c in ("is_return",) if c in part.columns])
        sort = [c for c in ("customer_id", "timestamp") if c in part.columns]
        part = part.sort_values(sort, kind="stable").reset_index(drop=True)
        for col in part.columns:
            if pd.api.types.is_datetime64_any_dtype(part[col]):
                part[col] = part[col].dt.strftime("%Y-%m-%d %H:%M:%S")
        part = part.astype(object).where(part.notna(), None)
        part.insert(0, "table", name)
        parts.append(part)
    return pd.concat(parts, ignore_index=True).astype(object)


def model_signature(model: ChurnkitModel, data: ShopData, as_of: str) -> tuple[Any, pd.DataFrame]:
    """The pyfunc's signature (both input forms, the score table, the ``as_of`` param) and its input example.

    Inputs, all optional: ``table`` and the raw columns of the long form (any type: the loader parses text
    or typed values as it parses files), then the feature-table columns with the types they had at training
    (integers ``long``, other numbers ``double``, text ``string``). Outputs: the score table of the example.
    Params: ``as_of`` (string, default none = the day after the last purchase in the input).
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import DataType
    from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

    example = input_example(data)
    tables = {
        name: part.drop(columns="table").dropna(axis=1, how="all")
        for name, part in example.groupby("table", sort=False)
    }
    ex_data = ShopData.from_frames(tables["transactions"], tables.get("events"), tables.get("customers"))
    features = model.features(ex_data, as_of=dt.date.fromisoformat(as_of))
    scores = model.score_features(features)

    specs: dict[str, ColSpec] = {}
    for col in example.columns:
        specs[col] = ColSpec(AnyType(), col, required=False)
    for col, dtype in features.dtypes.items():
        if col in specs:
            continue
        if pd.api.types.is_bool_dtype(dtype):
            kind: Any = DataType.boolean
        elif pd.api.types.is_integer_dtype(dtype):
            kind = DataType.long
        elif pd.api.types.is_float_dtype(dtype):
            kind = DataType.double
        elif pd.api.types.is_string_dtype(dtype) and col != "customer_id":
            kind = DataType.string
        else:
            kind = AnyType()  # customer_id (text or numbers), as_of (date or timestamp)
        specs[str(col)] = ColSpec(kind, str(col), required=False)
    with warnings.catch_warnings():  # MLflow's hint about integer columns: `cluster` is never missing
        warnings.filterwarnings(
            "ignore", message="Hint: Inferred schema contains integer", category=UserWarning
        )
        outputs = infer_signature(example, scores).outputs
    params = ParamSchema([ParamSpec("as_of", DataType.string, None)])
    return ModelSignature(inputs=Schema(list(specs.values())), outputs=outputs, params=params), example


def feature_schema(model: ChurnkitModel) -> dict[str, Any]:
    from churnkit.features import FEATURES

    meaning = {f.name: f for f in FEATURES}
    cols = getattr(model, "input_columns_", None) or model.required_columns()
    out = []
    for c in cols:
        f = meaning.get(c)
        out.append({"name": c, "meaning": f.meaning if f else "", "unit": f.unit if f else ""})
    return {"horizon_days": model.horizon_days, "features": out, "required_columns": model.required_columns()}
