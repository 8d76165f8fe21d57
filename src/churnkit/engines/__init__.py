"""Execution engines: the loader's backends and Spark.

`duckdb_sql` / `duckdb_read` turn the load rules (`churnkit.data.rules`) into DuckDB SQL for `churnkit.data.load`;
`spark` / `spark_read` / `spark_columns` do the same with Spark columns, `spark_scoring` computes features and
batch scores on Spark and `spark_batch` is the spark-submit job. Each Spark module imports PySpark lazily, so
importing churnkit never needs it installed. No module here is named after a package (``duckdb.py``):
spark-submit runs `spark_batch` as a script, with this folder first on ``sys.path``.
"""
