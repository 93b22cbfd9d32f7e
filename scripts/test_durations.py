"""Write tests/durations.json (seconds per test file) from a JUnit XML report of a whole run:

    bash scripts/test.sh --junitxml=var/junit.xml && .venv/bin/python scripts/test_durations.py var/junit.xml

The parallel run (pytest-xdist, --dist loadfile) hands out the test files longest first by these
figures (tests/conftest.py), so the last files to run are short ones and both workers finish together.
Stale figures only make that order a little worse; a file missing from them counts as a median one.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "durations.json"


def _file_of(classname: str) -> str:
    """tests.dcl.test_views.TestX → tests/dcl/test_views.py (the longest prefix that is a file)."""
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        path = "/".join(parts[:end]) + ".py"
        if (ROOT / path).is_file():
            return path
    return "/".join(parts) + ".py"


def main(report: str) -> None:
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).iter("testcase"):
        seconds[_file_of(case.get("classname") or "")] += float(case.get("time") or 0)
    OUT.write_text(json.dumps({k: round(v, 1) for k, v in sorted(seconds.items())}, indent=0) + "\n")
    print(f"wrote {OUT} ({len(seconds)} files, {sum(seconds.values()):.0f} s of tests)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/test_durations.py JUNIT.xml")
    main(sys.argv[1])
