"""MLflow tracking on top of the core: one run per `train`, the pyfunc model, the registry alias.

Nothing in the core imports this package.
"""
