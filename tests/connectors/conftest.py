"""Connector test settings: tiny HTTP waits, loopback allowed (the kinds' test servers listen on 127.0.0.1), and
a temporary folder that filesource connections may read."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _connector_settings(settings, tmp_path):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True
    settings.CONNECTORS_HTTP_MAX_WAIT = 0.05
    settings.CONNECTORS_HTTP_BACKOFF_BASE = 0.005
    settings.CONNECTORS_HTTP_MAX_RETRIES = 3
    settings.CONNECTORS_HTTP_TIMEOUT = 5.0
    settings.FILESOURCE_ALLOWED_ROOTS = [str(tmp_path), str(settings.DATA_DIR)]
    yield settings


@pytest.fixture
def csv_dir(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder
