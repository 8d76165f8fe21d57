"""Small results of Ibis expressions (counts, a few rows, one column) as Python values, on any engine.

On DuckDB the compiled query runs on the backend's own connection: Ibis' fetch there imports pandas for its
type converter, which is half a second of every command that otherwise never needs pandas (`validate`,
`features`). Other engines go through Ibis.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa


def arrow(expr: ir.Table | ir.Scalar) -> pa.Table:
    """The result of ``expr`` as an Arrow table (a scalar as one row, one column)."""
    backend = expr._find_backend()
    if backend.name == "duckdb":
        return backend.con.sql(str(ibis.to_sql(expr, dialect="duckdb"))).to_arrow_table()
    result = expr.to_pyarrow()
    return result if isinstance(result, pa.Table) else pa.table({"value": [result.as_py()]})


def scalar(expr: ir.Scalar) -> Any:
    """The value of a scalar expression (a count, a sum)."""
    return arrow(expr).column(0)[0].as_py()


def rows(expr: ir.Table) -> list[dict[str, Any]]:
    """The rows of a (small) table expression as dicts."""
    return arrow(expr).to_pylist()


def column_values(table: ir.Table, column: str) -> list[Any]:
    """The values of one column of a (small) table expression."""
    return arrow(table.select(column)).column(column).to_pylist()
