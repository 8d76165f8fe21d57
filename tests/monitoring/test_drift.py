"""PSI: reference distributions learned at fit time, compared with a new base."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from churnkit.monitoring.drift import drift_message, psi, reference_distributions


def _base(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(10.0 + shift * 2.0, 2.0, n),  # sd 2: shift is in standard deviations
            "skewed": rng.gamma(0.7, 50.0, n),
            "channel": rng.choice(["web", "app", "store"], n, p=[0.55, 0.27, 0.18]),
        }
    )


def test_half_a_standard_deviation_is_drift_and_a_resample_is_not():
    ref = reference_distributions(_base(20_000, 1), ["x", "skewed", "channel"])
    same = psi(ref, _base(20_000, 2))
    shifted = psi(ref, _base(20_000, 3, shift=0.5))
    assert (same < 0.1).all(), same
    assert shifted["x"] > 0.2, shifted
    assert shifted["skewed"] < 0.1 and shifted["channel"] < 0.1
    assert shifted.index[0] == "x"


def test_psi_by_hand_on_two_bins():
    # reference: edges at the median 0.5 -> shares 0.5 / 0.5 / 0 missing; new: 0.8 / 0.2
    ref = reference_distributions(pd.DataFrame({"v": [0.0, 1.0]}), ["v"], bins=2)
    assert ref["v"]["edges"] == [0.5] and ref["v"]["shares"] == [0.5, 0.5, 0.0]
    new = pd.DataFrame({"v": [0.1] * 8 + [0.9] * 2})
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi(ref, new)["v"] == pytest.approx(expected, rel=1e-12)


def test_missing_values_and_new_categories_count_as_drift():
    ref = reference_distributions(_base(5000, 1), ["x", "channel"])
    new = _base(5000, 2)
    new.loc[: len(new) // 3, "x"] = np.nan
    new.loc[: len(new) // 3, "channel"] = "kiosk"
    values = psi(ref, new)
    assert values["x"] > 0.2 and values["channel"] > 0.2


def test_reference_is_plain_json_and_message_names_the_top_features():
    ref = reference_distributions(_base(2000, 1), ["x", "skewed", "channel"])
    assert json.loads(json.dumps(ref)) == ref
    values = pd.Series({"x": 0.9, "skewed": 0.3, "channel": 0.05})
    msg = drift_message(values)
    assert msg is not None and "x 0.90" in msg and "skewed 0.30" in msg and "channel" not in msg
    assert "\n" not in msg
    assert drift_message(pd.Series({"x": 0.1})) is None
    assert drift_message(None) is None


def test_the_monitoring_core_does_not_import_mlflow():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import churnkit.monitoring, churnkit.monitoring.realized, churnkit.monitoring.campaign\n"
        "assert 'mlflow' not in sys.modules, 'mlflow imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
