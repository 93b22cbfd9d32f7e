"""Optional Slack incoming-webhook notifications. A failure to notify is logged, never raised:
a sync must not break because Slack is down."""

from __future__ import annotations

import logging

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)


def notify_slack(*, text: str, url: str | None = None, timeout: float = 5.0) -> bool:
    """Post `text` to the configured Slack incoming webhook. Returns whether Slack accepted it."""
    url = url if url is not None else settings.SLACK_WEBHOOK_URL
    if not url:
        return False
    try:
        response = httpx.post(url, json={"text": text[:3000]}, timeout=timeout)
    except httpx.HTTPError as exc:
        logger.warning("slack notification failed: %s", exc.__class__.__name__)
        return False
    if response.status_code >= 300:
        logger.warning("slack notification refused: HTTP %s", response.status_code)
        return False
    return True
