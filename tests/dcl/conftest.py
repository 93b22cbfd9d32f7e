import pytest

from tests.pipeline.support import ensure_ontology


@pytest.fixture(autouse=True)
def _ontology():
    ensure_ontology()
