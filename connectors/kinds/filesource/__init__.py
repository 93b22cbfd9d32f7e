"""filesource: CSV exports of any system, uploaded or read from a folder on the server."""

from ...systems import system_label
from ..base import KindForm, KindSpec
from .config import FileSourceConfig, FileSourceSecrets


def describe(config: dict) -> str | None:
    """"CSV · Salesforce export" when the files say which system exported them (`source_system`)."""
    system = (config or {}).get("source_system")
    return f"CSV · {system_label(system)} export" if system else None


KIND = KindSpec(
    name="filesource",
    label="CSV files",
    driver="connectors.kinds.filesource.driver:FileSourceDriver",
    config_model=FileSourceConfig,
    secrets_model=FileSourceSecrets,
    form=KindForm(tone="green", blurb="Exports of any system: upload CSV files, or read a folder on the server."),
    sample_config={"source_system": "salesforce", "files": ["Account.csv"], "delimiter": ";"},
    inferred_types=True,
    describe=describe,
)
