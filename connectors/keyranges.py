"""Key ranges: how a source's primary keys and the DCL's are compared without moving every key.

A key is the record's id as the pipeline stores it (`_source_id`: the primary key as text, `a|b`
for a composite key). Its range is `int(md5(key)[0:8], 16) % buckets`; a range's digest is
(count of keys, sum of `int(md5(key)[8:16], 16)`). Both sides compute them where the keys are (the
source's database, the tenant's DuckDB file), so a sync with no delete moves `buckets` small rows;
only the ranges whose digests differ have their keys listed and compared (docs/adr/0019-deletes.md).

The same definition is written three times, in SQL for PostgreSQL and DuckDB and in Python for the
tests; `tests/connectors/test_keyranges.py` holds them to one another.
"""

from __future__ import annotations

import hashlib

Digests = dict[int, tuple[int, int]]  # range → (keys, sum of the key hashes)


def key_range(key: str, buckets: int) -> int:
    return int(hashlib.md5(key.encode()).hexdigest()[:8], 16) % buckets  # noqa: S324 - a spread, not a secret


def digests_of(keys, buckets: int) -> Digests:
    """The digests of `keys` (an iterable of str), computed in Python."""
    out: dict[int, list[int]] = {}
    for key in keys:
        h = hashlib.md5(key.encode()).hexdigest()  # noqa: S324
        d = out.setdefault(int(h[:8], 16) % buckets, [0, 0])
        d[0] += 1
        d[1] += int(h[8:16], 16)
    return {b: (c, s) for b, (c, s) in out.items()}


def ranges_differing(ours: Digests, theirs: Digests) -> list[int]:
    """The ranges whose digests differ (a range absent on one side counts as (0, 0))."""
    return sorted(b for b in set(ours) | set(theirs) if ours.get(b, (0, 0)) != theirs.get(b, (0, 0)))
