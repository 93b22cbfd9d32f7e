"""The network guard checks the address a connection really uses: names that resolve to loopback at
connect time (DNS rebinding), PostgreSQL pinned to the checked address, MongoDB SRV targets and
announced replica-set members."""

from __future__ import annotations

import socket

import httpcore
import mongomock
import psycopg
import pytest

from connectors import netguard
from connectors.errors import PermanentError, TransientError
from connectors.http import HttpClient
from connectors.kinds.hubspot.testserver import FakeHubSpot
from connectors.registry import build_driver

PUBLIC = "93.184.216.34"
real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def guard_on(settings):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = False
    return settings


class Answers(dict):
    def __init__(self):
        super().__init__()
        self.lookups: dict[str, int] = {}


@pytest.fixture
def fake_dns(monkeypatch):
    """Answers for made-up names: a list of addresses, or a list of lists (one per lookup, the last
    repeats) to play a rebinding resolver. Every other name resolves for real."""
    answers = Answers()
    lookups = answers.lookups

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in answers:
            return real_getaddrinfo(host, port, family, type, proto, flags)
        n = lookups.get(host, 0)
        lookups[host] = n + 1
        plan = answers[host]
        addresses = plan[min(n, len(plan) - 1)] if isinstance(plan[0], list) else plan
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 0)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


# --- HTTP -------------------------------------------------------------------------------------------


def test_http_name_resolving_to_loopback_is_refused_at_connect_time_even_after_a_passed_check(guard_on):
    with FakeHubSpot() as hs:
        port = hs.server.server_address[1]
        client = HttpClient(base_url=f"http://localhost:{port}", bearer=hs.token)
        client._guard = lambda url: None  # as if the up-front check had passed
        with pytest.raises(PermanentError, match="private or local"):
            client.get("/crm/v3/objects/companies")
        assert hs.requests == []  # nothing reached the internal server


def test_dns_rebinding_between_the_check_and_the_connect_is_refused(guard_on, fake_dns):
    fake_dns["rebind.example.test"] = [[PUBLIC], ["127.0.0.1"]]  # public for the check, then loopback
    with FakeHubSpot() as hs:
        port = hs.server.server_address[1]
        client = HttpClient(base_url=f"http://rebind.example.test:{port}", bearer=hs.token, sleep=lambda s: None)
        with pytest.raises(PermanentError, match="private or local"):
            client.get("/crm/v3/objects/companies")
        assert fake_dns.lookups["rebind.example.test"] == 2  # the up-front check and the connect
        assert hs.requests == []


def test_http_connects_to_the_address_it_checked_not_to_the_name(guard_on, fake_dns, monkeypatch):
    fake_dns["api.example.test"] = [PUBLIC]
    dialled = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        dialled.append(host)
        raise httpcore.ConnectError("not dialling out from a test")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
    client = HttpClient(base_url="https://api.example.test", sleep=lambda s: None)
    with pytest.raises(TransientError, match="unreachable"):
        client.get("/x")
    assert dialled and set(dialled) == {PUBLIC}


def test_a_name_with_one_public_and_one_private_answer_is_refused(guard_on, fake_dns):
    fake_dns["mixed.example.test"] = [PUBLIC, "10.0.0.7"]
    with pytest.raises(PermanentError, match="private or local"):
        netguard.public_addresses("mixed.example.test", 443)


def test_http_guard_stays_out_of_the_way_when_private_networks_are_allowed():
    with FakeHubSpot() as hs:
        port = hs.server.server_address[1]
        client = HttpClient(base_url=f"http://localhost:{port}", bearer=hs.token)
        assert client.get("/crm/v3/objects/companies", params={"limit": 1})["results"]


# --- PostgreSQL -------------------------------------------------------------------------------------


class Captured(Exception):
    pass


@pytest.fixture
def captured_connect(monkeypatch):
    seen: list[dict] = []

    def connect(**kwargs):
        seen.append(kwargs)
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr("connectors.kinds.postgres.driver.psycopg.connect", connect)
    return seen


def pg(host, **extra):
    return build_driver("postgres", {"host": host, "database": "crm", "user": "reader", **extra}, {"password": "pw"})


def test_postgres_connects_to_the_checked_address_so_the_name_is_not_resolved_again(
    guard_on, fake_dns, captured_connect
):
    fake_dns["db.example.test"] = [[PUBLIC], ["127.0.0.1"]]  # a rebinding resolver
    with pytest.raises(TransientError):
        pg("db.example.test").check()
    (kwargs,) = captured_connect
    assert kwargs["hostaddr"] == PUBLIC and kwargs["host"] == "db.example.test"  # TLS still checks the name
    assert fake_dns.lookups["db.example.test"] == 1


def test_postgres_name_resolving_to_loopback_is_refused_before_connecting(guard_on, captured_connect):
    with pytest.raises(PermanentError, match="private or local"):
        pg("localhost").check()
    assert captured_connect == []


def test_postgres_dsn_with_a_private_hostaddr_is_refused(guard_on, fake_dns, captured_connect):
    fake_dns["db.example.test"] = [PUBLIC]
    dsn = "postgresql://reader:pw@db.example.test:5432/crm?hostaddr=127.0.0.1"
    with pytest.raises(PermanentError, match="private or local"):
        build_driver("supabase", {}, {"dsn": dsn}).check()
    assert captured_connect == []


def test_postgres_multi_host_dsn_pins_each_host(guard_on, fake_dns, captured_connect):
    fake_dns["a.example.test"] = [PUBLIC]
    fake_dns["b.example.test"] = ["93.184.216.35"]
    with pytest.raises(TransientError):
        build_driver("supabase", {}, {"dsn": "postgresql://u:pw@a.example.test,b.example.test/crm"}).check()
    assert captured_connect[0]["hostaddr"] == f"{PUBLIC},93.184.216.35"


@pytest.fixture
def captured_adbc(monkeypatch):
    """ADBC's connect (the driver's read path, connectors/kinds/postgres/adbc.py), recording its conninfo."""
    import adbc_driver_manager
    from psycopg.conninfo import conninfo_to_dict

    seen: list[dict] = []

    def connect(conninfo, **kwargs):
        seen.append(conninfo_to_dict(conninfo))
        raise adbc_driver_manager.OperationalError("IO: [libpq] Failed to connect: connection refused",
                                                   status_code=adbc_driver_manager.AdbcStatusCode.IO)

    monkeypatch.setattr("adbc_driver_postgresql.dbapi.connect", connect)
    return seen


def test_postgres_reads_through_adbc_at_the_checked_address_with_the_same_tls_and_session(
    guard_on, fake_dns, captured_adbc
):
    fake_dns["db.example.test"] = [[PUBLIC], ["127.0.0.1"]]  # a rebinding resolver
    drv = pg("db.example.test", sslmode="verify-full")
    with pytest.raises(TransientError, match="connection refused"):
        drv._adbc_connection()
    (info,) = captured_adbc
    assert info["hostaddr"] == PUBLIC and info["host"] == "db.example.test"  # TLS still checks the name
    assert info["sslmode"] == "verify-full" and info["password"] == "pw" and info["connect_timeout"] == "10"
    assert "-c default_transaction_read_only=on" in info["options"] and "-c TimeZone=UTC" in info["options"]
    assert fake_dns.lookups["db.example.test"] == 1


def test_postgres_adbc_read_path_never_connects_to_a_name_resolving_to_loopback(guard_on, captured_adbc):
    with pytest.raises(PermanentError, match="private or local"):
        pg("localhost")._adbc_connection()
    dsn = "postgresql://reader:pw@db.example.test:5432/crm?hostaddr=127.0.0.1"
    with pytest.raises(PermanentError, match="private or local"):
        build_driver("supabase", {}, {"dsn": dsn})._adbc_connection()
    assert captured_adbc == []


# --- MongoDB ----------------------------------------------------------------------------------------


class SRV:
    def __init__(self, target: str, port: int = 27017):
        self.target, self.port = target + ".", port


@pytest.fixture
def fake_srv(monkeypatch):
    records: dict[str, list[SRV]] = {}

    def resolve(name, rdtype, lifetime=None):
        import dns.resolver

        assert rdtype == "SRV"
        if name not in records:
            raise dns.resolver.NXDOMAIN()
        return records[name]

    monkeypatch.setattr("dns.resolver.resolve", resolve)
    return records


def mongo(uri, factory=None):
    client = mongomock.MongoClient()
    calls = []

    def make(*args, **kwargs):
        calls.append(kwargs)
        return client

    driver = build_driver("mongodb", {"database": "crm"}, {"uri": uri}, client_factory=factory or make)
    return driver, calls


def test_mongodb_srv_uri_whose_targets_resolve_to_loopback_is_refused(guard_on, fake_srv, fake_dns):
    fake_dns["shard-00.cluster0.example.test"] = [PUBLIC]
    fake_srv["_mongodb._tcp.cluster0.example.test"] = [SRV("shard-00.cluster0.example.test"), SRV("localhost")]
    driver, calls = mongo("mongodb+srv://u:pw@cluster0.example.test/crm")
    with pytest.raises(PermanentError, match="'localhost' resolves to a private or local address"):
        driver.check()
    assert calls == []  # no client was made


def test_mongodb_srv_uri_with_public_targets_connects_with_the_member_check(guard_on, fake_srv, fake_dns):
    fake_srv["_mongodb._tcp.cluster0.example.test"] = [SRV("shard-00.cluster0.example.test")]
    fake_dns["shard-00.cluster0.example.test"] = [PUBLIC]
    driver, calls = mongo("mongodb+srv://u:pw@cluster0.example.test/crm")
    assert driver.check().ok
    assert calls[0]["server_selector"] is netguard.mongo_server_selector


def test_mongodb_srv_name_without_a_record_is_a_permanent_error(guard_on, fake_srv):
    with pytest.raises(PermanentError, match="no MongoDB SRV record"):
        mongo("mongodb+srv://u:pw@nothing.example.test/crm")[0].check()


def test_mongodb_seed_resolving_to_loopback_is_refused(guard_on):
    with pytest.raises(PermanentError, match="private or local"):
        mongo("mongodb://u:pw@localhost:27017/crm")[0].check()


def test_mongodb_members_announced_on_private_addresses_are_never_selected(guard_on, fake_dns):
    from pymongo.server_description import ServerDescription

    fake_dns["db1.example.test"] = [PUBLIC]
    servers = [ServerDescription(("db1.example.test", 27017)), ServerDescription(("localhost", 27017))]
    servers.append(ServerDescription(("10.1.2.3", 27017)))
    assert [s.address for s in netguard.mongo_server_selector(servers)] == [("db1.example.test", 27017)]


def test_mongodb_invalid_uri_is_a_permanent_error_even_when_private_networks_are_allowed():
    with pytest.raises(PermanentError, match="invalid MongoDB URI"):
        mongo("mongodb://u:pw@host:notaport/crm")[0].check()


def test_tls_to_the_pinned_address_still_verifies_the_certificate_against_the_host_name(
    guard_on, fake_dns, monkeypatch, tmp_path
):
    import ssl

    import trustme

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    # The local test server stands in for a public host: its address passes the check here.
    monkeypatch.setattr(netguard, "_is_private", lambda address: False)
    fake_dns["secure.example.test"] = ["127.0.0.1"]
    fake_dns["other.example.test"] = ["127.0.0.1"]
    with FakeHubSpot() as hs:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("secure.example.test").configure_cert(context)
        hs.server.socket = context.wrap_socket(hs.server.socket, server_side=True)
        port = hs.server.server_address[1]
        good = HttpClient(base_url=f"https://secure.example.test:{port}", bearer=hs.token, sleep=lambda s: None)
        assert good.get("/crm/v3/objects/companies", params={"limit": 1})["results"]
        wrong = HttpClient(base_url=f"https://other.example.test:{port}", bearer=hs.token, sleep=lambda s: None)
        with pytest.raises(TransientError):  # the certificate does not name other.example.test
            wrong.get("/crm/v3/objects/companies", params={"limit": 1})
        assert hs.count("/crm/v3/objects/companies") == 1
