"""`manage.py bench_history`: the history step of a materialization on N opportunities (ADR 0020).

The benchmark is benchmarks/history.py (benchmarks/ is not part of the app); this module only registers the command.
"""

from benchmarks.history import Command  # noqa: F401
