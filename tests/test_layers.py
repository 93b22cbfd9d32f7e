"""The layering (pyproject.toml [tool.importlinter]) holds for the code, and the contracts do catch
an import that runs up the layers or closes a circle inside an app (docs/adr/0011)."""

from __future__ import annotations

import copy
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import grimp
import pytest
from importlinter import configuration
from importlinter.application.use_cases import _get_built_in_contract_types, read_user_options

ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def _options():
    configuration.configure()  # what the lint-imports command does first (readers, graph builder, timer)
    return read_user_options(str(ROOT / "pyproject.toml"))


@lru_cache(maxsize=1)
def _graph() -> grimp.ImportGraph:
    options = _options().session_options
    return grimp.build_graph(*options["root_packages"], include_external_packages=False, cache_dir=None)


def _contract(contract_id: str):
    types = dict(_get_built_in_contract_types())
    for raw in _options().contracts_options:
        if raw["id"] == contract_id:
            return types[raw["type"]](name=raw["name"], session_options=_options().session_options,
                                      contract_options=raw)
    raise LookupError(contract_id)


def _check(contract_id: str, *extra_imports: tuple[str, str]):
    graph = copy.deepcopy(_graph())
    for importer, imported in extra_imports:
        graph.add_import(importer=importer, imported=imported)
    return _contract(contract_id).check(graph, verbose=False)


def test_the_contracts_name_every_app_and_core_at_the_bottom():
    layers = next(raw for raw in _options().contracts_options if raw["id"] == "layers")["layers"]
    assert list(layers) == ["agents", "dcl", "aam", "connectors", "tenants", "autonomos.core"]
    acyclic = next(raw for raw in _options().contracts_options if raw["id"] == "acyclic")
    assert set(acyclic["ancestors"]) == {"tenants", "connectors", "aam", "dcl", "agents", "autonomos.core"}


def test_the_code_keeps_the_layers_and_has_no_circles():
    assert _check("layers").kept
    assert _check("acyclic").kept


@pytest.mark.parametrize(("importer", "imported", "lower", "higher"), [
    ("tenants.models", "agents.models", "tenants", "agents"),  # a lower app reaching up
    ("connectors.services", "aam.services", "connectors", "aam"),
    ("aam.ingest.services", "dcl.services", "aam", "dcl"),
    ("autonomos.core.tenancy", "tenants.models", "autonomos.core", "tenants"),  # core below every app
])
def test_an_import_up_the_layers_breaks_the_layers_contract(importer, imported, lower, higher):
    check = _check("layers", (importer, imported))
    assert not check.kept
    broken = [(d["importer"], d["imported"]) for d in check.metadata["invalid_dependencies"]]
    assert broken == [(lower, higher)]
    chains = [link for d in check.metadata["invalid_dependencies"] for route in d["routes"] for link in route["chain"]]
    assert {"importer": importer, "imported": imported} in [{k: c[k] for k in ("importer", "imported")} for c in chains]


@pytest.mark.parametrize(("importer", "imported", "package"), [
    ("aam.models", "aam.services", "aam"),  # aam.services imports aam.models: a circle in aam
    ("dcl.services", "dcl.operations", "dcl"),  # the circle broken in this change, closed again
    ("agents.models", "agents.tasks", "agents"),
    ("autonomos.core.redis_names", "autonomos.core.redis", "autonomos.core"),
])
def test_an_import_closing_a_circle_inside_an_app_breaks_the_acyclic_contract(importer, imported, package):
    check = _check("acyclic", (importer, imported))
    assert not check.kept
    assert package in check.metadata["cycle_breakers_by_package"]


def test_lint_imports_passes_on_the_repository():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
