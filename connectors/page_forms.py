"""The dashboard's "add connection" form for each kind, derived from the kind's pydantic models.

Each kind's spec (`connectors/kinds/<kind>/`, through `connectors.registry`) holds its config and
secrets models and how the page presents it (label, tone, blurb): fields of the config model
become ordinary inputs, fields of the secrets model password inputs that are never filled back in.
The service validates on save and its field errors are shown next to the inputs; this file only
decides how the form looks (labels, help, order), so the form can never drift from the models.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from django import forms

from .registry import find_kind, kind_specs


def _mapping_lines(value: str) -> None:
    """Every non-blank line of a mapping input is `name: value` (a line that is not was dropped
    silently before, e.g. `pk=Id` typed for `pk: Id`)."""
    for number, line in enumerate(str(value).splitlines(), start=1):
        key, sep, _ = line.partition(":")
        if line.strip() and not (sep and key.strip()):
            raise forms.ValidationError(
                "Line %(number)s is not “name: value”: %(line)s", params={"number": number, "line": line.strip()[:80]}
            )


@dataclass(frozen=True)
class KindField:
    name: str  # the key stored in config / secrets (a pydantic alias when it has one)
    label: str
    type: str = "text"  # text, url, int, list, mapping, bool, choice
    required: bool = False
    secret: bool = False
    help: str = ""
    placeholder: str = ""
    choices: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    initial: Any = None
    advanced: bool = False

    def form_field(self, *, editing: bool, is_set: bool) -> forms.Field:
        # On edit a stored secret may be left blank (it is kept), so it is never required there.
        required = self.required and not (editing and self.secret)
        common = {"label": self.label, "help_text": self.help, "required": required}
        attrs = {"placeholder": self.placeholder} if self.placeholder else {}
        if self.secret:
            attrs["autocomplete"] = "new-password"
            if is_set:
                attrs["placeholder"] = "•••••••• stored — leave blank to keep"
            return forms.CharField(widget=forms.PasswordInput(attrs=attrs, render_value=False), **common)
        initial = None if editing else self.to_initial(self.initial)
        if self.type == "int":
            return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), initial=initial, **common)
        if self.type == "bool":
            return forms.BooleanField(initial=initial, **{**common, "required": False})
        if self.type == "choice":
            choices = self.choices if self.required else (("", "—"), *self.choices)
            return forms.ChoiceField(choices=choices, initial=initial, **common)
        if self.type == "mapping":
            attrs.setdefault("placeholder", "name: value (one per line)")
            return forms.CharField(widget=forms.Textarea(attrs={**attrs, "rows": 3}), initial=initial,
                                   validators=[_mapping_lines], **common)
        if self.type == "url":  # a URL keyboard on phones; the connector's model validates the value
            return forms.CharField(widget=forms.URLInput(attrs=attrs), initial=initial, **common)
        return forms.CharField(widget=forms.TextInput(attrs=attrs), initial=initial, **common)

    def to_python(self, value: Any) -> Any:
        """Form value → the JSON the service expects (None when left blank)."""
        if value in (None, ""):
            return None
        if self.type == "list":
            return [part.strip() for part in str(value).replace("\n", ",").split(",") if part.strip()]
        if self.type == "mapping":
            out = {}
            for line in str(value).splitlines():
                key, sep, val = line.partition(":")
                if sep and key.strip():
                    out[key.strip()] = val.strip()
            return out or None
        return value

    def to_initial(self, value: Any) -> Any:
        if value is None:
            return None
        if self.type == "list" and isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        if self.type == "mapping" and isinstance(value, dict):
            return "\n".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items())
        return value


# How each kind is presented (from its spec); the fields themselves come from the models.
KIND_FORMS: dict[str, dict[str, Any]] = {
    spec.name: {"label": spec.label, "tone": spec.form.tone, "blurb": spec.form.blurb} for spec in kind_specs()
}

# Friendlier labels, help and placeholders for field names the models use.
FIELD_HINTS: dict[str, dict[str, str]] = {
    "folder": {"label": "Folder on the server", "placeholder": "/srv/exports/salesforce",
               "help": "Optional when you upload files. Every *.csv in it becomes an object."},
    "exports": {"label": "Files are", "help": "A new version of a file replaces the last: rows are matched by "
                "their key (shown on the connection page), none is added twice."},
    "files": {"label": "Only these files", "help": "Comma-separated file names; blank reads every *.csv."},
    "source_system": {"label": "Source system", "placeholder": "salesforce",
                      "help": "Which system made the export (helps routing and mapping)."},
    "dsn": {"label": "Connection URI", "placeholder": "postgresql://user:password@host:5432/db",
            "help": "Instead of host, database, user and password."},
    "uri": {"label": "Connection URI", "placeholder": "mongodb://user:password@host:27017"},
    "instance_url": {"label": "Instance URL", "placeholder": "https://yourorg.my.salesforce.com"},
    "login_url": {"label": "Login URL"},
    "access_token": {"label": "Private-app token", "placeholder": "pat-…"},
    "tenant_id": {"label": "Entra (Azure AD) tenant id"},
    "schema": {"label": "Schema"},
    "tables": {"help": "Comma-separated; blank reads every table."},
    "collections": {"help": "Comma-separated; blank reads every collection."},
    "objects": {"help": "Comma-separated object names."},
    "entities": {"help": "Comma-separated entity names."},
}
CHOICE_LABELS = {",": "Comma ( , )", ";": "Semicolon ( ; )", "\t": "Tab", "|": "Pipe ( | )",
                 "full": "Full exports: each file is a snapshot, a row gone from it is deleted",
                 "append": "Append-only: files add and update rows, nothing is deleted"}
# Kept by the platform (the keys it chose for files, docs/adr/0024-files-as-snapshots.md), not in the
# form: a full update from the form keeps their stored values (views.connection_edit_page).
MANAGED_ELSEWHERE = ("chosen_keys",)
ADVANCED = {"primary_keys", "cursor_columns", "cursor_fields", "api_version", "token_url", "connect_timeout",
            "sample_size", "sslmode", "base_url", "login_url", "delimiter", "encoding", "files"}


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for `X | None` / `Optional[X]`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _field_spec(name: str, info: Any, *, secret: bool) -> KindField:
    from pydantic_core import PydanticUndefined

    key = info.alias or name
    annotation, _optional = _unwrap(info.annotation)
    origin = typing.get_origin(annotation)
    kind, choices = "text", ()
    if origin is Literal:
        kind, choices = "choice", tuple((str(v), CHOICE_LABELS.get(v, str(v))) for v in typing.get_args(annotation))
    elif annotation is bool:
        kind = "bool"
    elif annotation is int:
        kind = "int"
    elif origin in (list, tuple):
        kind = "list"
    elif origin is dict:
        kind = "mapping"
    elif key.endswith("_url"):
        kind = "url"
    if info.default is not PydanticUndefined:
        initial = info.default
    elif info.default_factory is not None:
        initial = info.default_factory()
    else:
        initial = None
    hints = FIELD_HINTS.get(key, {})
    return KindField(
        name=key,
        label=hints.get("label", key.replace("_", " ").capitalize()),
        type=kind,
        required=info.is_required(),
        secret=secret,
        help=hints.get("help", info.description or ""),
        placeholder=hints.get("placeholder", ""),
        choices=choices,
        initial=initial,
        advanced=key in ADVANCED,
    )


def kind_fields(kind: str) -> list[KindField]:
    """The form fields of `kind`: its config model's fields, then its secrets model's."""
    kind_spec = find_kind(kind)
    if kind_spec is None:
        return []
    specs = [_field_spec(n, f, secret=False) for n, f in kind_spec.config_model.model_fields.items()
             if (f.alias or n) not in MANAGED_ELSEWHERE]
    specs += [_field_spec(n, f, secret=True) for n, f in kind_spec.secrets_model.model_fields.items()]
    # Required first, advanced options last; otherwise the model's order.
    return sorted(specs, key=lambda s: (not s.required, s.advanced))
