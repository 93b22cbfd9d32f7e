"""`manage.py bench_export`: the CSV export of a unified view (the API's ?format=csv path), rows/s and memory.

The benchmark is benchmarks/export.py (benchmarks/ is not part of the app); this module only registers the command.
"""

from benchmarks.export import Command  # noqa: F401
