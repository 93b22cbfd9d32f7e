"""`manage.py bench_api`: the unified-view API under load (wrk, or an httpx script).

The benchmark is benchmarks/api.py (benchmarks/ is not part of the app); this module only registers the command.
"""

from benchmarks.api import Command  # noqa: F401
