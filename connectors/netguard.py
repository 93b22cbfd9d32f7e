"""Refuse to connect a tenant's connection to the platform's own network.

A tenant who could point a "postgres" connection at 127.0.0.1:5432 would read every tenant's data;
an HTTP connector aimed at 169.254.169.254 would read cloud credentials. Unless
CONNECTORS_ALLOW_PRIVATE_NETWORK is set (local development, tests), hosts that resolve to loopback,
private, link-local or reserved addresses are refused.

Checking a name and then letting a client library resolve it again leaves a window: a name can
answer a public address to the check and 127.0.0.1 to the connect (DNS rebinding). So the check and
the connection use the same resolution:
- HTTP: `GuardedTransport` resolves, checks and connects to the checked address itself (TLS still
  verifies the certificate against the host name);
- PostgreSQL: `pinned_hostaddrs` resolves and checks, and libpq gets the address as `hostaddr`;
- MongoDB: `ensure_public_mongo_uri` checks every seed, and for `mongodb+srv://` every SRV target;
  `mongo_server_selector` keeps servers that resolve to private addresses (members a server itself
  announces) out of server selection, so no operation or credential goes to them.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import typing
from urllib.parse import urlsplit

import httpcore
import httpx

from . import conf
from .errors import PermanentError, TransientError

logger = logging.getLogger(__name__)


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified


def _refusal(host: str) -> PermanentError:
    return PermanentError(
        f"host {host!r} resolves to a private or local address; connections to the platform's own "
        "network are refused (set CONNECTORS_ALLOW_PRIVATE_NETWORK for local development)"
    )


def public_addresses(host: str, port: int | None = None) -> list[str]:
    """Every address `host` resolves to, in resolver order. Raises PermanentError when any of them is
    private or local (a name with one public and one private answer is refused, not filtered) and
    TransientError when the name does not resolve."""
    if not host:
        raise PermanentError("no host given")
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise TransientError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    addresses: list[str] = []
    for info in infos:
        address = info[4][0]
        if _is_private(address):
            raise _refusal(host)
        if address not in addresses:
            addresses.append(address)
    return addresses


def ensure_public_host(host: str, port: int | None = None) -> None:
    """Raise PermanentError when `host` resolves to a non-public address (and that is not allowed)."""
    if conf.allow_private_network():
        return
    public_addresses(host, port)


def ensure_public_url(url: str) -> None:
    parts = urlsplit(url)
    ensure_public_host(parts.hostname or "", parts.port)


# --- HTTP -------------------------------------------------------------------------------------------


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, except that a TCP connection goes to an address that was
    resolved and checked right here, never to a name resolved again later."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        if conf.allow_private_network():
            return self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = public_addresses(host, port)
        except TransientError as exc:
            raise httpcore.ConnectError(exc.message) from None  # retried like any connect failure
        error: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host!r}")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # noqa: ANN001
        raise PermanentError("local sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport on the GuardedBackend (no proxy: a proxy would resolve names itself)."""

    def __init__(self, *, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's defaults
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(),
        )


# --- PostgreSQL -------------------------------------------------------------------------------------


def pinned_hostaddrs(hosts: list[str], port: int | None = None) -> list[str] | None:
    """One checked address per host, for libpq's `hostaddr` (libpq then connects there and uses the
    name only to verify TLS and find passwords). None when private networks are allowed."""
    if conf.allow_private_network():
        return None
    pinned = []
    for host in hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            if _is_private(host):
                raise _refusal(host)
            pinned.append(host)
            continue
        pinned.append(public_addresses(host, port)[0])
    return pinned


# --- MongoDB ----------------------------------------------------------------------------------------


def srv_targets(host: str) -> list[tuple[str, int]]:
    """The (host, port) targets of `_mongodb._tcp.<host>`, as pymongo resolves them for +srv URIs."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(f"_mongodb._tcp.{host}", "SRV", lifetime=10)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        raise PermanentError(f"no MongoDB SRV record for {host!r}") from None
    except dns.exception.DNSException as exc:
        raise TransientError(f"cannot resolve the SRV record of {host!r}: {type(exc).__name__}") from None
    return [(str(r.target).rstrip("."), int(r.port)) for r in answer]


def ensure_public_mongo_uri(uri: str) -> None:
    """Check every host a MongoDB URI makes the client reach first: the seeds, or the SRV targets."""
    from pymongo import uri_parser
    from pymongo.errors import ConfigurationError, InvalidURI

    srv = uri.startswith("mongodb+srv://")
    if srv:
        host = (urlsplit(uri).hostname or "").strip()
        if not host:
            raise PermanentError("invalid MongoDB URI: no host")
    else:
        try:
            targets = uri_parser.parse_uri(uri)["nodelist"]
        except (InvalidURI, ConfigurationError, ValueError) as exc:
            raise PermanentError(f"invalid MongoDB URI: {exc}") from None
    if conf.allow_private_network():
        return
    if srv:
        targets = srv_targets(host)
    if not targets:
        raise PermanentError("the MongoDB URI names no host")
    for target, port in targets:
        ensure_public_host(target, port)


def mongo_server_selector(server_descriptions: list) -> list:
    """pymongo `server_selector`: drop servers whose host resolves to a private or local address.

    A replica set announces its members itself, so a hostile server could send the client to
    internal hosts; filtered here, they are never selected for an operation (or sent credentials).
    """
    if conf.allow_private_network():
        return server_descriptions
    kept = []
    for description in server_descriptions:
        host, port = description.address
        try:
            public_addresses(host, port)
        except (PermanentError, TransientError):
            logger.warning("MongoDB server %s:%s is not a public address; not used", host, port)
            continue
        kept.append(description)
    return kept
