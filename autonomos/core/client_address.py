"""The client address of a request: the one place that decides whether X-Forwarded-For is believed.

Any client can send X-Forwarded-For, so it means something only when the project's own proxies
write it. `TRUSTED_PROXY_COUNT` says how many there are in front of Django (0: none, the client is
the peer, REMOTE_ADDR). With N proxies that each append the address they received the request from,
the client is the N-th address from the right of X-Forwarded-For; whatever a client put there
itself stays on the left and is never read. DRF reads the same setting (`NUM_PROXIES`), axes calls
this function (`AXES_CLIENT_IP_CALLABLE`), and the login throttles key on it.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _valid(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((address or "").strip()))
    except ValueError:
        return None


def client_address(request) -> str | None:
    """The address of the client that sent `request` (a Django or DRF request), or None when the
    server did not give one. What DRF's `get_ident` answers with `NUM_PROXIES = TRUSTED_PROXY_COUNT`,
    except that a value that is not an IP address falls back to REMOTE_ADDR (axes stores addresses
    in an inet column)."""
    meta = request.META
    remote = _valid(meta.get("REMOTE_ADDR"))
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    hops = forwarded.split(",")
    return _valid(hops[-min(proxies, len(hops))]) or remote
