"""Former home of the boosted models, kept so that models saved before the split (joblib pickles naming
``churnkit.models.boosting.ChurnClassifier`` and friends) still load. New code imports from
:mod:`churnkit.models.churn`, :mod:`churnkit.models.clv`, :mod:`churnkit.models.calibration`,
:mod:`churnkit.models.attribution` and :mod:`churnkit.models.gbm`.
"""

from churnkit.models.attribution import path_contributions
from churnkit.models.calibration import CalibrationWarning, SigmoidCalibrator
from churnkit.models.churn import ChurnClassifier
from churnkit.models.clv import CLVRegressor
from churnkit.models.gbm import DEFAULT_PARAMS, random_holdout, time_holdout

__all__ = [
    "DEFAULT_PARAMS",
    "CLVRegressor",
    "CalibrationWarning",
    "ChurnClassifier",
    "SigmoidCalibrator",
    "path_contributions",
    "random_holdout",
    "time_holdout",
]
