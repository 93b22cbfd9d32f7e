"""supabase: a Supabase project's PostgreSQL database, read by the postgres driver."""

from ..base import KindForm, KindSpec
from ..postgres.config import PostgresSecrets, check_settings
from .config import SupabaseConfig

KIND = KindSpec(
    name="supabase",
    label="Supabase",
    driver="connectors.kinds.postgres.driver:PostgresDriver",
    config_model=SupabaseConfig,
    secrets_model=PostgresSecrets,
    form=KindForm(tone="green", blurb="A Supabase project's PostgreSQL database."),
    sample_secrets={"dsn": "postgresql://reader:example@db.example.supabase.co:5432/postgres"},
    check_settings=check_settings,
)
