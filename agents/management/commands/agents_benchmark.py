"""`manage.py agents_benchmark`: the pilots over synthetic unified rows (no database).

The benchmark is benchmarks/agents.py (benchmarks/ is not part of the app); this module only registers the command.
"""

from benchmarks.agents import Command  # noqa: F401
