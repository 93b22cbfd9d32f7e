"""`manage.py bench_pg_sync`: issue #17's targets on a PostgreSQL source of N rows, through the product's
own commands and processes (initial load, 1% change, no change, change-to-API freshness, RSS).

The benchmark is benchmarks/pg_sync.py (benchmarks/ is not part of the app); this module only registers the command.
"""

from benchmarks.pg_sync import Command  # noqa: F401
