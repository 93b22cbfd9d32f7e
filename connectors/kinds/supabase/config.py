"""supabase settings: PostgreSQL's, with TLS required unless said otherwise."""

from __future__ import annotations

from typing import Literal

from ..postgres.config import PostgresConfig


class SupabaseConfig(PostgresConfig):
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "require"
