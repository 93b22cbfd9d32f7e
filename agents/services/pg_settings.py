"""PostgreSQL settings for one statement of an analysis (a larger work_mem, no JIT, hash aggregates),
restored afterwards so the connection goes back to the pool as it came."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def statement_settings(cursor, settings: Mapping[str, str] | None) -> Iterator[None]:
    """Apply `settings` (name → value) on `cursor`'s connection for the block, then put back what they were."""
    if not settings:
        yield
        return
    cursor.execute("SELECT " + ", ".join(f"current_setting('{k}')" for k in settings))
    before = cursor.fetchone()
    for key, value in settings.items():
        cursor.execute("SELECT set_config(%s, %s, false)", [key, value])
    try:
        yield
    finally:
        for key, value in zip(settings, before, strict=True):
            cursor.execute("SELECT set_config(%s, %s, false)", [key, value])
