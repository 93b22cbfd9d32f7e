"""Refuse to connect a tenant's connection to the platform's own network.

A tenant who could point a "postgres" connection at 127.0.0.1:5432 would read every tenant's data;
an HTTP connector aimed at 169.254.169.254 would read cloud credentials. Unless
CONNECTORS_ALLOW_PRIVATE_NETWORK is set (local development, tests), hosts that resolve to loopback,
private, link-local or reserved addresses are refused. The check resolves the name at connect time.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from . import conf
from .errors import PermanentError, TransientError


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified


def ensure_public_host(host: str, port: int | None = None) -> None:
    """Raise PermanentError when `host` resolves to a non-public address (and that is not allowed)."""
    if conf.allow_private_network():
        return
    if not host:
        raise PermanentError("no host given")
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise TransientError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    for info in infos:
        if _is_private(info[4][0]):
            raise PermanentError(
                f"host {host!r} resolves to a private or local address; connections to the platform's own "
                "network are refused (set CONNECTORS_ALLOW_PRIVATE_NETWORK for local development)"
            )


def ensure_public_url(url: str) -> None:
    parts = urlsplit(url)
    ensure_public_host(parts.hostname or "", parts.port)
