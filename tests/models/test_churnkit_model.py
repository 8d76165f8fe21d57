"""`ChurnkitModel` owns its state: everything learned in `fit`, one fitted check, saved models still load."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from churnkit.config import load_config
from churnkit.data.load import ShopData
from churnkit.datasets.sample_shop import generate_shop
from churnkit.errors import ModelError, NotFittedError
from churnkit.models.churnkit_model import ChurnkitModel
from churnkit.models.training_tables import SnapshotTables
from churnkit.pipeline import train

PARAMS = (
    "horizon_days",
    "feature_settings",
    "btyd_settings",
    "champions",
    "save_rate",
    "segment_settings",
    "seed",
)


@pytest.fixture(scope="module")
def trained():  # type: ignore[no-untyped-def]
    s = generate_shop(500, seed=3)
    data = ShopData.from_frames(s.transactions, s.events, s.customers)
    cfg = load_config(None, **{"training.n_snapshots": 2, "training.spacing_days": 60})
    return data, train(data, cfg)


def test_an_unfitted_model_says_so_with_one_error():
    model = ChurnkitModel(
        horizon_days=90, feature_settings={}, btyd_settings={}, save_rate=0.1, segment_settings={}
    )
    for call in (
        lambda: model.score_features(pd.DataFrame({"customer_id": ["a"]})),
        model.required_columns,
        model.feature_importance,
        lambda: model.score(None, as_of="2024-01-01"),  # type: ignore[arg-type]
    ):
        with pytest.raises(NotFittedError, match="ChurnkitModel is not fitted yet"):
            call()
    assert issubclass(NotFittedError, ModelError)  # the CLI's exit 2, one line


def test_init_only_stores_the_parameters(trained):
    _, result = trained
    model = result.model
    params = {p: getattr(model, p) for p in PARAMS}
    fresh = ChurnkitModel(**params)
    assert vars(fresh) == params  # nothing learned, nothing derived


def test_fit_learns_everything_from_the_table_and_the_base(trained):
    """A second model with the same parameters, fitted on the same snapshots and base, scores identically:
    nothing the final model needs is set from outside `fit` (BTYD, tiers, segments)."""
    data, result = trained
    model = result.model
    for attr in (
        "btyd_",
        "btyd_outcome_",
        "champions_",
        "churn_",
        "clv_",
        "rfm_",
        "risk_cuts_",
        "value_cuts_",
    ):
        assert hasattr(model, attr)
    assert model.btyd_ is not None and model.btyd_outcome_["model"] == model.btyd_settings["model"]
    snaps = SnapshotTables(
        data,
        horizon_days=model.horizon_days,
        feature_settings=model.feature_settings,
        btyd_settings=model.btyd_settings,
        progress=lambda _: None,
    )
    table = snaps.stack([pd.Timestamp(d).date() for d in result.summary["final_as_ofs"]])
    as_of = pd.Timestamp(result.summary["as_of"]).date()
    base = model.features(data, as_of=as_of)
    again = ChurnkitModel(**{p: getattr(model, p) for p in PARAMS}).fit(table, base=base)
    assert again.value_cuts_ == model.value_cuts_ and again.risk_cuts_ == model.risk_cuts_
    pd.testing.assert_frame_equal(again.score_features(base), result.scores)


def test_pickled_model_scores_the_same_and_old_import_paths_still_resolve(trained):
    """Saved models are joblib pickles naming their classes' modules: the paths before the split still work."""
    data, result = trained
    import churnkit.models.boosting as old_boosting
    import churnkit.pipeline as old_pipeline
    from churnkit.models.calibration import SigmoidCalibrator
    from churnkit.models.churn import ChurnClassifier
    from churnkit.models.clv import CLVRegressor

    assert old_pipeline.ChurnkitModel is ChurnkitModel
    assert old_boosting.ChurnClassifier is ChurnClassifier
    assert old_boosting.CLVRegressor is CLVRegressor
    assert old_boosting.SigmoidCalibrator is SigmoidCalibrator
    loaded = pickle.loads(pickle.dumps(result.model))
    pd.testing.assert_frame_equal(loaded.score(data, as_of=result.summary["as_of"]), result.scores)


def test_a_model_saved_with_the_old_attribute_names_loads_under_the_new_ones(trained):
    data, result = trained
    state = dict(vars(result.model))
    state["feature_columns_"] = state.pop("input_columns_")  # as pickled before the rename
    state["categorical_columns_"] = state.pop("categorical_inputs_")
    old = ChurnkitModel.__new__(ChurnkitModel)
    old.__setstate__(state)
    assert old.input_columns_ == result.model.input_columns_ and not hasattr(old, "feature_columns_")
    pd.testing.assert_frame_equal(old.score_features(model_features(data, result)), result.scores)


def model_features(data, result):  # type: ignore[no-untyped-def]
    return result.model.features(data, as_of=pd.Timestamp(result.summary["as_of"]).date())


def test_scoring_rounds_the_inputs_as_training_does_without_copying_rounded_columns():
    from churnkit.features.training import rounded
    from churnkit.models.churnkit_model import _rounded

    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(500)],
            "raw": rng.normal(0, 100, 500),
            "done": rng.normal(0, 100, 500).round(8),
            "tiny": np.r_[-1e-12, 0.0, -0.0, np.nan, rng.normal(0, 1e-6, 496)],
            "single": rng.normal(0, 1, 500).astype("float32"),
            "nullable": pd.array(np.r_[np.nan, rng.normal(0, 1, 499)], dtype="Float64"),
            "count": rng.integers(0, 9, 500),
        }
    )
    got, expected = _rounded(table), rounded(table)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    for col in ("raw", "tiny", "single"):  # bit for bit, the sign of zero included
        assert got[col].to_numpy().tobytes() == expected[col].to_numpy().tobytes()
    assert not np.array_equal(table["raw"].to_numpy(), got["raw"].to_numpy())
    assert np.shares_memory(got["done"].to_numpy(), table["done"].to_numpy())
    already = rounded(table.drop(columns="nullable"))  # (a nullable float column is always rounded anew)
    assert _rounded(already) is already  # nothing to round: the table itself
