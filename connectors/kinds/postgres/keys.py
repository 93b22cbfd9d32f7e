"""The key-range side of PostgreSQL (connectors/keyranges.py): digests of a table's primary keys
by range, computed by the server, and the keys of chosen ranges, streamed with COPY.

Kept apart from the driver's read path: the driver only calls `key_digests` and `keys_in_ranges`.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from psycopg import sql

from ...errors import ConnectorError


def key_expr(pk: list[str]) -> sql.Composable:
    """The key as the pipeline writes it: each part as text, trimmed, parts joined by '|'."""
    parts = [sql.SQL("btrim({}::text)").format(sql.Identifier(p)) for p in pk]
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("concat_ws('|', {})").format(sql.SQL(", ").join(parts))


def _range_expr(buckets: int, scheme: str) -> sql.Composable:
    b = sql.Literal(int(buckets))
    if scheme == "int":
        return sql.SQL("((_i % {b}) + {b}) % {b}").format(b=b)
    return sql.SQL("(('x' || substr(_h, 1, 8))::bit(32)::bigint % {})").format(b)


def _keyed(pk: list[str], table: sql.Composable, scheme: str) -> sql.Composable:
    """The table's keys as rows of (k text, and _i bigint or _h md5 text)."""
    if scheme == "int":
        return sql.SQL("SELECT {k} AS k, {c}::bigint AS _i FROM {t}").format(
            k=key_expr(pk), c=sql.Identifier(pk[0]), t=table)
    return sql.SQL("SELECT {k} AS k, md5({k}) AS _h FROM {t}").format(k=key_expr(pk), t=table)


def key_digests(
    conn: psycopg.Connection, table: sql.Composable, pk: list[str], buckets: int, scheme: str = "md5"
) -> dict[int, tuple[int, ...]]:
    """{range: (keys, sums...)} of the table's keys (connectors/keyranges.py), one aggregate query."""
    if scheme == "int":
        query = sql.SQL(
            "SELECT {r} AS b, count(*), sum(_i), sum((_i % 2147483647) * 48271 % 2147483647) "
            "FROM (SELECT {c}::bigint AS _i FROM {t}) s GROUP BY 1"
        ).format(r=_range_expr(buckets, scheme), c=sql.Identifier(pk[0]), t=table)
    else:
        query = sql.SQL(
            "SELECT {r} AS b, count(*), sum(('x' || substr(_h, 9, 8))::bit(32)::bigint) "
            "FROM (SELECT md5({k}) AS _h FROM {t}) s GROUP BY 1"
        ).format(r=_range_expr(buckets, scheme), k=key_expr(pk), t=table)
    try:
        rows = conn.execute(query).fetchall()
    except psycopg.Error as exc:
        raise ConnectorError(f"key digests failed: {str(exc).strip()[:300]}") from None
    return {int(row[0]): tuple(int(v) for v in row[1:]) for row in rows}


def keys_in_ranges(
    conn: psycopg.Connection, table: sql.Composable, pk: list[str], buckets: int, ranges: list[int],
    scheme: str = "md5",
) -> Iterator[str]:
    """The keys that fall in `ranges`, streamed (COPY: no per-row round trip, bounded memory)."""
    query = sql.SQL("COPY (SELECT k FROM ({keyed}) s WHERE {r} IN ({rs})) TO STDOUT").format(
        keyed=_keyed(pk, table, scheme), r=_range_expr(buckets, scheme),
        rs=sql.SQL(", ").join(sql.Literal(int(b)) for b in ranges),
    )
    try:
        with conn.cursor() as cur, cur.copy(query) as copy:
            for row in copy.rows():
                yield row[0]
    except psycopg.Error as exc:
        raise ConnectorError(f"key listing failed: {str(exc).strip()[:300]}") from None
