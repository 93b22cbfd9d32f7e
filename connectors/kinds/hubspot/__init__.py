"""hubspot: CRM v3 objects with a private-app token (driver.py); testserver.py is a local portal."""

from ..base import KindForm, KindSpec
from .config import HubSpotConfig, HubSpotSecrets

KIND = KindSpec(
    name="hubspot",
    label="HubSpot",
    driver="connectors.kinds.hubspot.driver:HubSpotDriver",
    config_model=HubSpotConfig,
    secrets_model=HubSpotSecrets,
    form=KindForm(tone="purple", blurb="CRM v3 objects with a private-app token."),
    sample_config={"objects": ["companies", "deals"]},
    sample_secrets={"access_token": "pat-na1-example"},
    domain="revops",
    domain_reason="a CRM",
    test_server="connectors.kinds.hubspot.testserver:FakeHubSpot",
)
