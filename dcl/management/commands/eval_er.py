"""`manage.py eval_er`: entity resolution scored on labelled data (FEBRL, labelled CSVs, the demo)
through the real path, CSV connections → sync → unified view (issue #19).

The evaluation is benchmarks/er_eval.py (benchmarks/ is not part of the app); this module only registers the command.
"""

from benchmarks.er_eval import Command  # noqa: F401
