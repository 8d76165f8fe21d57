"""BTYD transaction models and Gamma-Gamma spend behind one adapter package.

This is the only churnkit package that touches ``lifetimes`` (archived upstream): replacing the backend
(PyMC-Marketing, ...) means replacing this package and nothing else.

Models, all in the lifetimes RFM convention with time in **days**, one class per module:

* ``BGNBDModel`` (bgnbd.py) — Fader, Hardie & Lee (2005a), "Counting Your Customers the Easy Way".
* ``ParetoNBDModel`` (pareto.py) — Schmittlein, Morrison & Colombo (1987); Fader & Hardie (2005) note 009.
* ``MBGNBDModel`` (mbgnbd.py) — Batislam, Denizel & Filiztekin (2007); Wagner & Hoppe (2008) erratum.
* ``GammaGammaModel`` (gamma_gamma.py) — Fader, Hardie & Lee (2005b); Fader & Hardie (2013) note 025.

``BTYDModel`` (model.py) is the façade the pipeline uses: one transaction model plus Gamma-Gamma on an RFM
table. ``fit_btyd`` (fallback.py) wraps it in a chain of models that never raises for a fit failure. Shared
pieces: rfm.py (the input contract), fitting.py (penalizer retries, checks, the fitted check, the warnings),
boundary.py ("no dropout visible yet"), transactions.py (the transaction models' base), backend.py (lifetimes).

Units: the fits are scale-equivariant (α and β carry the time unit, every other parameter is unit-free),
so weekly data times 7 gives α_days = 7 α_weeks. Horizons are days; a month is 30.4375 days.
"""

from churnkit.models.btyd.backend import _lifetimes
from churnkit.models.btyd.bgnbd import BGNBDModel
from churnkit.models.btyd.fallback import BTYDFit, fit_btyd
from churnkit.models.btyd.fitting import BoundaryWarning, ConvergenceWarning, FallbackWarning
from churnkit.models.btyd.gamma_gamma import GammaGammaModel
from churnkit.models.btyd.mbgnbd import MBGNBDModel
from churnkit.models.btyd.model import (
    DAYS_PER_MONTH,
    MODEL_LABELS,
    PREDICTION_COLUMNS,
    TRANSACTION_MODELS,
    BTYDModel,
    ModelName,
)
from churnkit.models.btyd.pareto import ParetoNBDModel
from churnkit.models.btyd.rfm import REQUIRED_COLUMNS
from churnkit.models.btyd.transactions import NEVER_DAYS, TransactionModel

__all__ = [
    "DAYS_PER_MONTH",
    "MODEL_LABELS",
    "NEVER_DAYS",
    "PREDICTION_COLUMNS",
    "REQUIRED_COLUMNS",
    "TRANSACTION_MODELS",
    "BGNBDModel",
    "BTYDFit",
    "BTYDModel",
    "BoundaryWarning",
    "ConvergenceWarning",
    "FallbackWarning",
    "GammaGammaModel",
    "MBGNBDModel",
    "ModelName",
    "ParetoNBDModel",
    "TransactionModel",
    "_lifetimes",
    "fit_btyd",
]
