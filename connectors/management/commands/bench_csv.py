"""`manage.py bench_csv`: the filesource CSV reader on a generated (or given) file.

The benchmark is benchmarks/csv_read.py (benchmarks/ is not part of the app); this module only registers the command.
"""

from benchmarks.csv_read import Command  # noqa: F401
