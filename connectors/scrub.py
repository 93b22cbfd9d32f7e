"""Keep secrets out of messages that are stored (last_error) or shown."""

from __future__ import annotations

from typing import Any

from autonomos.core.logging import redact

MAX_ERROR_CHARS = 2000


def known_secrets(connection) -> dict[str, Any]:
    """The connection's secrets for masking, or {} when they cannot be decrypted (then there is
    nothing a driver could have leaked: no driver ran with them)."""
    from .secretbox import SecretsUnreadable

    try:
        return connection.get_secrets()
    except SecretsUnreadable:
        return {}


def scrub(text: str, secrets: dict[str, Any] | None = None) -> str:
    """`text` with every secret value of the connection and every credential-looking token masked."""
    text = str(text)
    for value in (secrets or {}).values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return redact(text)[:MAX_ERROR_CHARS]
