import pytest


@pytest.fixture(autouse=True)
def _agents_settings(settings, tmp_path):
    # Filesource connections in these tests read CSV files written under tmp_path.
    settings.FILESOURCE_ALLOWED_ROOTS = [str(tmp_path), str(settings.DATA_DIR)]
    settings.AOA_RETRY_BACKOFF_SECONDS = 0.01
    yield settings
