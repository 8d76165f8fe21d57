"""Execution engines beyond the embedded DuckDB one (`churnkit.engines.spark`).

Each engine module imports its engine lazily, so importing churnkit never needs it installed.
"""
