"""postgres: any PostgreSQL database; tables are objects, read incrementally (driver.py)."""

from ..base import KindForm, KindSpec
from .config import PostgresConfig, PostgresSecrets, check_settings

KIND = KindSpec(
    name="postgres",
    label="PostgreSQL",
    driver="connectors.kinds.postgres.driver:PostgresDriver",
    config_model=PostgresConfig,
    secrets_model=PostgresSecrets,
    form=KindForm(tone="blue", blurb="Any PostgreSQL database; tables become objects, read incrementally."),
    sample_config={"host": "db.example.com", "database": "crm", "user": "reader", "tables": ["accounts"]},
    sample_secrets={"password": "example"},
    check_settings=check_settings,
)
