"""The churnkit pyfunc model, logged with MLflow's models-from-code (no pickled Python class).

Input: either the raw tables in long form (a ``table`` column naming transactions / events / customers, plus
their canonical columns) or a feature table (one row per customer with the model's feature columns), and an
optional ``as_of`` parameter (YYYY-MM-DD). Output: the score table (one row per customer in the base).
The fitted `churnkit.pipeline.ChurnkitModel` travels as the ``churnkit_model`` artifact.
"""

from __future__ import annotations

import joblib
import mlflow
import pandas as pd


class ChurnkitPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:  # type: ignore[no-untyped-def]
        self.model = joblib.load(context.artifacts["churnkit_model"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:  # type: ignore[no-untyped-def]
        as_of = (params or {}).get("as_of")
        return self.model.predict_frame(model_input, as_of=as_of)


mlflow.models.set_model(ChurnkitPyfunc())
