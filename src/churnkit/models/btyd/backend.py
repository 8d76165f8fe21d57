"""Access to ``lifetimes`` (archived upstream) without its side effects.

Only the model classes of this package use the fitters it returns; replacing the backend (PyMC-Marketing, ...)
means replacing those classes and this module.
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

_BOUND_IN_FIT = ("generate_new_data", "predict")  # what lifetimes binds on a fitter inside ``fit``


@contextlib.contextmanager
def _quiet(*, capture_stdout: bool = False) -> Iterator[None]:
    """Run lifetimes code without leaking its side effects.

    lifetimes resets warning filters inside its likelihoods, prints the optimiser result before raising
    (fits only: ``capture_stdout``), and its boundary terms take log(0). Filters are restored on exit;
    numpy floating-point warnings are silenced because every result is checked for finiteness.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        stack.enter_context(np.errstate(all="ignore"))
        if capture_stdout:
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _lifetimes() -> Any:
    """Import lifetimes lazily, undoing its import-time warning filters and pandas option."""
    with _quiet():
        try:
            previous = pd.get_option("mode.chained_assignment")
        except (KeyError, AttributeError):  # pandas.errors.OptionError: the option is gone
            previous = None
        import lifetimes

        if previous is not None:
            pd.set_option("mode.chained_assignment", previous)
    return lifetimes


def picklable(fitter: Any) -> Any:
    """The fitter itself, or a shallow copy without what lifetimes binds inside ``fit`` (a lambda, an alias)."""
    if fitter is None or not set(_BOUND_IN_FIT) & set(vars(fitter)):
        return fitter
    fitter = copy.copy(fitter)
    for name in _BOUND_IN_FIT:
        vars(fitter).pop(name, None)
    return fitter
