"""The churnkit pyfunc model, logged with MLflow's models-from-code (no pickled Python class).

Input, either form (the signature lists both, every column optional):

* the raw tables in long form: a ``table`` column naming ``transactions`` / ``events`` / ``customers``, plus
  their canonical columns (``customer_id, timestamp, amount, ...``) as text or typed values; or
* a feature table: one row per customer with the model's feature columns (what ``spark_udf`` batch scoring
  passes).

Parameter ``as_of`` (YYYY-MM-DD; default: the day after the last purchase in the input). Give it when scoring
batches of customers: without it each batch's as-of date depends on which customers are in it.
Output: the score table (one row per customer in the base). A churnkit input error (a missing column, a bad
date, ...) is raised as an MLflow ``INVALID_PARAMETER_VALUE`` error carrying churnkit's own message, so a
served model answers HTTP 400 with that message. The fitted `churnkit.models.churnkit_model.ChurnkitModel` travels as the
``churnkit_model`` artifact.
"""

from __future__ import annotations

import joblib
import mlflow
import pandas as pd


class ChurnkitPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:  # type: ignore[no-untyped-def]
        self.model = joblib.load(context.artifacts["churnkit_model"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:  # type: ignore[no-untyped-def]
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        from churnkit.errors import ChurnkitError

        as_of = (params or {}).get("as_of") or None
        try:
            return self.model.predict_frame(model_input, as_of=as_of)
        except ChurnkitError as e:
            raise MlflowException(f"churnkit: {e}", error_code=INVALID_PARAMETER_VALUE) from None


mlflow.models.set_model(ChurnkitPyfunc())
