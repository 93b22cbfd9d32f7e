"""`manage.py bench_pg_read --rows N`: the PostgreSQL driver's records/s, row path vs columnar.

The benchmark is benchmarks/pg_read.py (benchmarks/ is not part of the app); this module only registers the command.
"""

from benchmarks.pg_read import Command  # noqa: F401
