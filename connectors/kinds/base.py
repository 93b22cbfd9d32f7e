"""What every kind folder builds on: the `KindSpec` it exposes, and the bases of its pydantic models.

A kind's `config` is everything that is safe to show (hosts, object lists, options); its `secrets`
hold what is not (passwords, tokens, client secrets) and are never rendered. Both are pydantic
models that refuse unknown keys; `connectors.registry.validate_settings` turns their errors into
Django's ValidationError keyed `config.<field>` / `secrets.<field>` (the API's 400).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from .. import conf

_OBJECT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


def load(path: str) -> Any:
    """The object named by "package.module:attribute", imported now."""
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class KindForm:
    """How the dashboard's "add connection" page presents the kind (its fields come from the models)."""

    tone: str  # the badge colour: green, blue, purple
    blurb: str  # one sentence under the kind's name


@dataclass(frozen=True)
class KindSpec:
    """Everything the platform needs to know about one connector kind (`connectors/kinds/<name>/`).

    `driver` and `test_server` are "module:attribute" paths, imported only when used, so a kind's
    client library (psycopg, pymongo, …) loads only when a connection of that kind is opened.
    """

    name: str  # the value stored in Connection.kind (never change it: rows and the API hold it)
    label: str  # the human name (Connection.Kind's label, the page's title)
    driver: str  # "module:Class" of its connectors.base.Driver subclass
    config_model: type[BaseModel]
    secrets_model: type[BaseModel]
    form: KindForm
    # A config and secrets that validate, for the kind's own completeness test (no private hosts:
    # they must pass with CONNECTORS_ALLOW_PRIVATE_NETWORK off).
    sample_config: dict[str, Any] = field(default_factory=dict)
    sample_secrets: dict[str, Any] = field(default_factory=dict)
    # Rules across config and secrets (the models check each alone): field → messages, keyed like
    # "config.host" / "secrets.password"; empty when all is well.
    check_settings: Callable[[Any, Any], dict[str, list[str]]] | None = None
    # The pilot the kind feeds by itself ("revops", "finops"), and why, for agents.routing;
    # "" for kinds that can hold anything (files, databases): they are routed by hints and entities.
    domain: str = ""
    domain_reason: str = ""
    # Field types come from sampled values rather than a declared schema (drift then tolerates
    # a type that changes with the samples: aam.drift.diff).
    inferred_types: bool = False
    # "module:factory" of a local server that speaks the vendor's API (HTTP kinds): a context
    # manager that starts it and has config() / secrets() pointing a connection at it.
    test_server: str | None = None
    # What a connection of the kind holds, in a few words, from its stored config ("CSV · Salesforce
    # export" for files exported from Salesforce); None when the kind's label says it all.
    describe: Callable[[dict[str, Any]], str | None] | None = None

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(info.alias or name for name, info in self.secrets_model.model_fields.items())

    def driver_class(self) -> type:
        return load(self.driver)

    def test_server_factory(self) -> Callable[..., Any] | None:
        return load(self.test_server) if self.test_server else None


# --- model bases and checks -----------------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Secrets(Strict):
    """Secrets: their repr and str show which are set, never the values (they end up in logs)."""

    def __repr_args__(self):
        return [(name, "***") for name in sorted(self.model_fields_set) if getattr(self, name) is not None]


def check_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.scheme == "http" and not conf.allow_private_network():
        raise ValueError("must use https")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials (put them in secrets)")
    return value.rstrip("/")


def check_names(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    for value in values:
        if not _OBJECT_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid object name")
    if len(set(values)) != len(values):
        raise ValueError("names must be unique")
    return values


def errors_of(exc: PydanticValidationError) -> dict[str, list[str]]:
    """Field → messages. Never includes the rejected input (it may be a secret)."""
    out: dict[str, list[str]] = {}
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "__all__"
        msg = err["msg"].removeprefix("Value error, ")
        out.setdefault(loc, []).append(msg)
    return out


def flat(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in errors.items())
