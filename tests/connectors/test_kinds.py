"""Every connector kind folder is complete (docs/connectors.md, "Adding a connector kind").

The tests walk the folders under connectors/kinds/, not the registry's list, so a folder that was
added without its registry line (or a line without its folder) fails here too.
"""

from __future__ import annotations

import pkgutil
import sys
import textwrap

import pytest
from django.core.exceptions import ValidationError

import connectors.kinds
from connectors import registry
from connectors.base import Driver
from connectors.errors import PermanentError
from connectors.http import HttpClient
from connectors.kinds.base import KindSpec
from connectors.models import Connection
from connectors.page_forms import KIND_FORMS, MANAGED_ELSEWHERE, kind_fields

FOLDERS = sorted(m.name for m in pkgutil.iter_modules(connectors.kinds.__path__) if m.ispkg)
# The values rows and the API schema hold: a kind may be added, never renamed or dropped.
STORED_KINDS = {
    "filesource": "CSV files",
    "postgres": "PostgreSQL",
    "supabase": "Supabase",
    "mongodb": "MongoDB",
    "salesforce": "Salesforce",
    "hubspot": "HubSpot",
    "dynamics": "Dynamics 365",
}


def test_the_registry_lists_exactly_the_kind_folders():
    assert FOLDERS, "no kind folders found"
    assert sorted(registry.KINDS) == FOLDERS
    assert len(set(registry.KINDS)) == len(registry.KINDS)


def test_connection_kind_is_built_from_the_kinds_and_keeps_the_stored_values():
    assert dict(Connection.Kind.choices) == {spec.name: spec.label for spec in registry.kind_specs()}
    assert {value: label for value, label in Connection.Kind.choices if value in STORED_KINDS} == STORED_KINDS
    assert Connection.Kind.SALESFORCE == "salesforce" and Connection.Kind.FILESOURCE.label == "CSV files"
    assert Connection._meta.get_field("kind").choices == Connection.Kind.choices


@pytest.mark.parametrize("name", FOLDERS)
def test_the_kind_spec_is_complete(name, settings):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = False  # the samples are what a real tenant would enter
    spec = registry.kind_spec(name)
    assert isinstance(spec, KindSpec)
    assert spec.name == name and spec.label.strip()
    driver_class = spec.driver_class()
    assert issubclass(driver_class, Driver) and driver_class.kind in registry.KINDS

    # The models validate the sample, the cross-field rules accept it, and a driver builds from it.
    stored = registry.validate_settings(name, spec.sample_config, spec.sample_secrets)
    assert spec.config_model.model_validate(stored) == spec.config_model.model_validate(spec.sample_config)
    with registry.build_driver(name, spec.sample_config, spec.sample_secrets) as driver:
        assert isinstance(driver, driver_class)
        http_based = isinstance(getattr(driver, "http", None), HttpClient)
    # Unknown keys are refused (a typo never passes silently).
    with pytest.raises(ValidationError) as refused:
        registry.validate_settings(name, {**spec.sample_config, "no_such_setting": 1}, spec.sample_secrets)
    assert "config.no_such_setting" in refused.value.message_dict

    # Secrets are the secrets model's fields and never config fields; their reprs hide values.
    config_keys = {info.alias or n for n, info in spec.config_model.model_fields.items()}
    assert not set(spec.secret_fields) & config_keys
    secrets = spec.secrets_model.model_validate(spec.sample_secrets)
    for value in spec.sample_secrets.values():
        assert str(value) not in repr(secrets) and str(value) not in str(secrets)

    # The page presents it: a badge, a sentence, and its fields (secrets as password inputs).
    assert KIND_FORMS[name] == {"label": spec.label, "tone": spec.form.tone, "blurb": spec.form.blurb}
    assert spec.form.tone in ("green", "blue", "purple") and spec.form.blurb.strip()
    fields = kind_fields(name)
    assert {f.name for f in fields} == (config_keys - set(MANAGED_ELSEWHERE)) | set(spec.secret_fields)
    assert {f.name for f in fields if f.secret} == set(spec.secret_fields)

    assert spec.domain in ("", "revops", "finops")
    assert bool(spec.domain) == bool(spec.domain_reason)
    # An HTTP kind brings the local server that speaks its vendor's API.
    assert (spec.test_server is not None) == http_based, "HTTP kinds need a test server, others have none"


HTTP_KINDS = sorted(name for name in registry.KINDS if registry.kind_spec(name).test_server)


def test_the_http_kinds_are_the_saas_vendors():
    assert HTTP_KINDS == ["dynamics", "hubspot", "salesforce"]


@pytest.mark.parametrize("name", HTTP_KINDS)
def test_the_driver_passes_its_check_against_the_kinds_test_server(name):
    spec = registry.kind_spec(name)
    with spec.test_server_factory()() as server:
        assert server.url.startswith("http://127.0.0.1:")
        with registry.build_driver(name, server.config(), server.secrets()) as driver:
            result = driver.check()
            assert result.ok, result.message
            objects = driver.discover()
        assert objects and all(o.fields for o in objects)
        assert server.requests, "the driver never reached the test server"
        # Wrong credentials fail the check: the server really checks them.
        wrong = {key: "wrong-value" for key in server.secrets()}
        with registry.build_driver(name, server.config(), wrong) as driver, pytest.raises(PermanentError) as failed:
            driver.check()
    assert "wrong-value" not in str(failed.value)


def test_a_new_kind_is_one_folder_and_one_registry_line(tmp_path, monkeypatch):
    """A kind folder the registry has never seen works everywhere the registry is asked."""
    folder = tmp_path / "examplecrm"
    folder.mkdir()
    (folder / "__init__.py").write_text(textwrap.dedent('''
        from connectors.kinds.base import KindForm, KindSpec
        from .config import ExampleConfig, ExampleSecrets

        KIND = KindSpec(
            name="examplecrm", label="Example CRM", driver="connectors.kinds.examplecrm.driver:ExampleDriver",
            config_model=ExampleConfig, secrets_model=ExampleSecrets,
            form=KindForm(tone="blue", blurb="An example."), sample_config={"objects": ["deals"]},
            sample_secrets={"api_key": "k"}, domain="revops", domain_reason="a CRM",
        )
    '''))
    (folder / "config.py").write_text(textwrap.dedent('''
        from connectors.kinds.base import Secrets, Strict

        class ExampleConfig(Strict):
            objects: list[str]

        class ExampleSecrets(Secrets):
            api_key: str
    '''))
    (folder / "driver.py").write_text(textwrap.dedent('''
        from connectors.base import CheckResult, Driver, Page

        class ExampleDriver(Driver):
            kind = "examplecrm"

            def check(self):
                return CheckResult(True, "objects: " + ", ".join(self.config.objects))

            def discover(self):
                return []

            def read(self, object_name, cursor=None, page_size=1000):
                yield Page(records=[], cursor=None)
    '''))
    monkeypatch.setattr(connectors.kinds, "__path__", [*connectors.kinds.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "KINDS", (*registry.KINDS, "examplecrm"))
    registry.kind_spec.cache_clear()
    try:
        assert registry.find_kind("examplecrm").label == "Example CRM"
        assert registry.validate_settings("examplecrm", {"objects": ["deals"]}, {"api_key": "k"}) == {
            "objects": ["deals"]
        }
        with pytest.raises(ValidationError) as refused:
            registry.validate_settings("examplecrm", {}, {})
        assert {"config.objects", "secrets.api_key"} <= set(refused.value.message_dict)
        with registry.build_driver("examplecrm", {"objects": ["deals"]}, {"api_key": "k"}) as driver:
            assert driver.check().message == "objects: deals"
        assert {f.name for f in kind_fields("examplecrm")} == {"objects", "api_key"}
        assert ("EXAMPLECRM", ("examplecrm", "Example CRM")) in registry.kind_choices()  # Connection.Kind, next start
    finally:
        registry.kind_spec.cache_clear()
        for module in [m for m in sys.modules if m.startswith("connectors.kinds.examplecrm")]:
            del sys.modules[module]


def test_an_unknown_kind_is_refused_everywhere():
    assert registry.find_kind("netsuite") is None
    with pytest.raises(KeyError):
        registry.kind_spec("netsuite")
    with pytest.raises(ValidationError) as refused:
        registry.validate_settings("netsuite", {}, {})
    assert "kind" in refused.value.message_dict
    assert kind_fields("netsuite") == []
