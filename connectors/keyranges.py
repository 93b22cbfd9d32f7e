"""Key ranges: how a source's primary keys and the DCL's are compared without moving every key.

A key is the record's id as the pipeline stores it (`_source_id`: the primary key as text, `a|b`
for a composite key). Its range is `int(md5(key)[0:8], 16) % buckets`; a range's digest is
(count of keys, sum of `int(md5(key)[8:16], 16)`). Both sides compute them where the keys are (the
source's database, the tenant's DuckDB file), so a sync with no delete moves `buckets` small rows;
only the ranges whose digests differ have their keys listed and compared (docs/adr/0019-deletes.md).

The same definition is written three times, in SQL for PostgreSQL (kinds/postgres/keys.py) and
DuckDB (here: `duckdb_range_sql`, `duckdb_sums_sql`, used by the DCL over what it holds and by
`digests_of_arrow` for a source whose keys are listed, MongoDB) and in Python for the tests;
tests/pipeline/test_deletes_postgres.py holds them to one another.

Two schemes, chosen by the source per object (`Driver.key_scheme`):
- "md5" (any key): as above;
- "int" (a single integer primary key, where hashing every key is most of the cost): range =
  `((k % buckets) + buckets) % buckets`, digest = (count, sum of k, sum of `(k % P) * 48271 % P`)
  with P = 2^31 - 1 (% truncating, as in PostgreSQL and DuckDB). No hash: a plain aggregate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pyarrow as pa

Digests = dict[int, tuple[int, ...]]  # range → (keys, sums...)
SCHEMES = ("md5", "int")
P = 2147483647


def _tmod(a: int, b: int) -> int:
    """a % b truncated toward zero (SQL's %, not Python's)."""
    r = abs(a) % b
    return r if a >= 0 else -r


def key_range(key: str, buckets: int, scheme: str = "md5") -> int:
    if scheme == "int":
        return _tmod(_tmod(int(key), buckets) + buckets, buckets)
    return int(hashlib.md5(key.encode()).hexdigest()[:8], 16) % buckets  # noqa: S324 - a spread, not a secret


def digests_of(keys, buckets: int, scheme: str = "md5") -> Digests:
    """The digests of `keys` (an iterable of str), computed in Python."""
    out: dict[int, list[int]] = {}
    for key in keys:
        if scheme == "int":
            k = int(key)
            d = out.setdefault(key_range(key, buckets, "int"), [0, 0, 0])
            d[0] += 1
            d[1] += k
            d[2] += _tmod(_tmod(k, P) * 48271, P)
            continue
        h = hashlib.md5(key.encode()).hexdigest()  # noqa: S324
        d = out.setdefault(int(h[:8], 16) % buckets, [0, 0])
        d[0] += 1
        d[1] += int(h[8:16], 16)
    return {b: tuple(v) for b, v in out.items()}


def ranges_differing(ours: Digests, theirs: Digests) -> list[int]:
    """The ranges whose digests differ (a range absent on one side counts as (0, 0))."""
    return sorted(b for b in set(ours) | set(theirs) if tuple(ours.get(b, ())) != tuple(theirs.get(b, ())))


# --- the same in DuckDB -------------------------------------------------------------------------------


def duckdb_range_sql(column: str, buckets: int, scheme: str = "md5") -> str:
    """A key's range in DuckDB (`column` holds the key as text). With "int", a key that is not an
    integer falls in range -1, which an integer-keyed source never has: compared, it is deleted."""
    b = int(buckets)
    if scheme == "int":
        return f"coalesce(((TRY_CAST({column} AS BIGINT) % {b}) + {b}) % {b}, -1)"
    return f"(('0x' || substr(md5({column}), 1, 8))::UBIGINT % {b})"


def duckdb_sums_sql(column: str, scheme: str = "md5") -> str:
    """The digest's sums in DuckDB (after the count): one for "md5", two for "int"."""
    if scheme == "int":
        k = f"TRY_CAST({column} AS BIGINT)"
        return f"sum({k}), sum(({k} % {P}) * 48271 % {P})"
    return f"sum(('0x' || substr(md5({column}), 9, 8))::UBIGINT)"


def digests_add(total: dict[int, list[int]], part: Digests) -> None:
    """Add the digests of more keys to `total` (counts and sums add up)."""
    for b, values in part.items():
        acc = total.setdefault(b, [0] * len(values))
        for i, v in enumerate(values):
            acc[i] += v


def _over_keys(keys: pa.Array, query: str) -> list[tuple]:
    """`query` run by an in-memory DuckDB over the table `_keys` (one text column `k`: `keys`)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("_keys", pa.table({"k": keys.cast(pa.string())}))
        return con.execute(query).fetchall()
    finally:
        con.close()


def digests_of_arrow(keys: pa.Array, buckets: int, scheme: str = "md5") -> Digests:
    """The digests of a batch of keys (a pyarrow string array), computed by DuckDB in memory."""
    rows = _over_keys(keys, f"SELECT {duckdb_range_sql('k', buckets, scheme)} AS b, count(*), "
                            f"{duckdb_sums_sql('k', scheme)} FROM _keys WHERE k IS NOT NULL GROUP BY 1")
    return {int(r[0]): tuple(int(v or 0) for v in r[1:]) for r in rows}


def keys_of_arrow_in_ranges(keys: pa.Array, buckets: int, ranges: Iterable[int], scheme: str = "md5") -> list[str]:
    """The keys of a batch that fall in `ranges`."""
    wanted = sorted({int(b) for b in ranges})
    if not wanted:
        return []
    rows = _over_keys(keys, f"SELECT k FROM _keys WHERE k IS NOT NULL AND {duckdb_range_sql('k', buckets, scheme)} "
                            f"IN ({', '.join(map(str, wanted))})")
    return [r[0] for r in rows]
