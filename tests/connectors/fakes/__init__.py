"""Local HTTP servers that speak the real endpoints of Salesforce, HubSpot and Dynamics 365.

Real sockets on 127.0.0.1 (port 0), served from a thread; each records the requests it saw and can
be told to fail (`fake.fail(status, times=..., path=..., headers=...)`) or to expire its tokens.
Use them as context managers:

    with FakeSalesforce() as sf:
        driver = build_driver("salesforce", sf.config(), sf.secrets())

Tests that talk to them must allow loopback hosts (settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True).
"""

from .base import FakeAPI, Request
from .dynamics import FakeDynamics
from .hubspot import FakeHubSpot
from .salesforce import FakeSalesforce

__all__ = ["FakeAPI", "FakeDynamics", "FakeHubSpot", "FakeSalesforce", "Request"]
