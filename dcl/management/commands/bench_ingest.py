"""`manage.py bench_ingest`: the whole pipeline (producer and consumer processes) on a generated export of N rows.

The benchmark is benchmarks/ingest.py (benchmarks/ is not part of the app); this module only registers the command.
"""

from benchmarks.ingest import Command  # noqa: F401
