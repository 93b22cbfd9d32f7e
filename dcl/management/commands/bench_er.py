"""`manage.py bench_er --rows 1000000`: entity resolution timed on synthetic contacts with known
duplicates (a full resolve, then an incremental one after 1,000 new records), with peak RSS and
pairwise precision, recall and F1 (issue #19).

The benchmark is benchmarks/er_bench.py (benchmarks/ is not part of the app); this module only registers the command.
"""

from benchmarks.er_bench import Command  # noqa: F401
