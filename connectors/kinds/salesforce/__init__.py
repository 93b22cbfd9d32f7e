"""salesforce: the REST API with OAuth, SOQL paging, incremental on SystemModstamp (driver.py);
testserver.py is a local Salesforce org that speaks the same endpoints."""

from ..base import KindForm, KindSpec
from .config import SalesforceConfig, SalesforceSecrets, check_settings

KIND = KindSpec(
    name="salesforce",
    label="Salesforce",
    driver="connectors.kinds.salesforce.driver:SalesforceDriver",
    config_model=SalesforceConfig,
    secrets_model=SalesforceSecrets,
    form=KindForm(tone="blue", blurb="REST API with OAuth; SOQL paging, incremental on SystemModstamp."),
    sample_config={"instance_url": "https://example.my.salesforce.com", "client_id": "3MVG9-example"},
    sample_secrets={"client_secret": "example"},
    check_settings=check_settings,
    domain="revops",
    domain_reason="a CRM",
    test_server="connectors.kinds.salesforce.testserver:FakeSalesforce",
)
