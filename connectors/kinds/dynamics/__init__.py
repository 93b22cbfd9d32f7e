"""dynamics: the Dataverse Web API (OData) with OAuth client credentials (driver.py);
testserver.py is a local Dataverse environment with its Entra token endpoint."""

from ..base import KindForm, KindSpec
from .config import DynamicsConfig, DynamicsSecrets

KIND = KindSpec(
    name="dynamics",
    label="Dynamics 365",
    driver="connectors.kinds.dynamics.driver:DynamicsDriver",
    config_model=DynamicsConfig,
    secrets_model=DynamicsSecrets,
    form=KindForm(tone="purple", blurb="Dataverse Web API (OData) with OAuth client credentials."),
    sample_config={
        "instance_url": "https://example.crm.dynamics.com",
        "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "00000000-0000-0000-0000-000000000001",
    },
    sample_secrets={"client_secret": "example"},
    domain="revops",
    domain_reason="a CRM",
    test_server="connectors.kinds.dynamics.testserver:FakeDynamics",
)
