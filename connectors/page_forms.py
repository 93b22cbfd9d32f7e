"""The dashboard's "add connection" form for each kind: which fields, which are secret.

The connector's pydantic config model is the judge of what is valid (the service validates on
save and its errors are shown on the form); this file only decides how the form looks. Secret
fields are password inputs, never filled back in, and stored in `Connection.secrets`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms


@dataclass(frozen=True)
class KindField:
    name: str
    label: str
    type: str = "text"  # text, url, int, list, bool, choice
    required: bool = False
    secret: bool = False
    help: str = ""
    placeholder: str = ""
    choices: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    initial: Any = None

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
        if self.type == "int":
            return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), initial=self.initial, **common)
        if self.type == "bool":
            return forms.BooleanField(initial=self.initial, **{**common, "required": False})
        if self.type == "choice":
            return forms.ChoiceField(choices=self.choices, initial=self.initial, **common)
        if self.type == "url":
            return forms.URLField(widget=forms.URLInput(attrs=attrs), initial=self.initial, assume_scheme="https",
                                  **common)
        return forms.CharField(widget=forms.TextInput(attrs=attrs), initial=self.initial, **common)

    def to_python(self, value: Any) -> Any:
        if value in (None, ""):
            return None
        if self.type == "list":
            return [part.strip() for part in str(value).replace("\n", ",").split(",") if part.strip()]
        return value

    def to_initial(self, value: Any) -> Any:
        if self.type == "list" and isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return value


_OBJECTS_HELP = "Comma-separated; leave blank to discover every object."

KIND_FORMS: dict[str, dict[str, Any]] = {
    "filesource": {
        "label": "CSV files",
        "blurb": "Exports of any system: a folder of CSV files on the server.",
        "tone": "green",
        "fields": [
            KindField("path", "Folder or file path", required=True, placeholder="/data/exports/salesforce",
                      help="Every *.csv in the folder becomes an object. Encoding and delimiter are detected."),
            KindField("delimiter", "Delimiter", help="Leave blank to detect.", placeholder=","),
            KindField("encoding", "Encoding", help="Leave blank to detect (UTF-8, UTF-8 with BOM, Latin-1)."),
        ],
    },
    "postgres": {
        "label": "PostgreSQL",
        "blurb": "Any PostgreSQL database by connection string; tables become objects.",
        "tone": "blue",
        "fields": [
            KindField("dsn", "Connection string", required=True, secret=True,
                      placeholder="postgresql://user:password@host:5432/db",
                      help="Stored write-only: it usually holds a password."),
            KindField("schema", "Schema", placeholder="public"),
            KindField("tables", "Tables", type="list", help=_OBJECTS_HELP),
            KindField("updated_at_column", "Updated-at column", placeholder="updated_at",
                      help="Used for incremental syncs."),
        ],
    },
    "supabase": {
        "label": "Supabase",
        "blurb": "A Supabase project's PostgreSQL database.",
        "tone": "green",
        "fields": [
            KindField("dsn", "Connection string", required=True, secret=True,
                      placeholder="postgresql://postgres:password@db.<project>.supabase.co:5432/postgres"),
            KindField("schema", "Schema", placeholder="public"),
            KindField("tables", "Tables", type="list", help=_OBJECTS_HELP),
            KindField("updated_at_column", "Updated-at column", placeholder="updated_at"),
        ],
    },
    "mongodb": {
        "label": "MongoDB",
        "blurb": "Collections become objects; nested documents are flattened.",
        "tone": "green",
        "fields": [
            KindField("uri", "Connection URI", required=True, secret=True, placeholder="mongodb://user:pass@host:27017"),
            KindField("database", "Database", required=True),
            KindField("collections", "Collections", type="list", help=_OBJECTS_HELP),
            KindField("updated_at_field", "Updated-at field", placeholder="updated_at",
                      help="Blank: incremental by _id."),
        ],
    },
    "salesforce": {
        "label": "Salesforce",
        "blurb": "REST API with OAuth; SOQL paging, incremental on SystemModstamp.",
        "tone": "blue",
        "fields": [
            KindField("instance_url", "Instance URL", type="url", required=True,
                      placeholder="https://yourorg.my.salesforce.com"),
            KindField("client_id", "Client id", required=True),
            KindField("client_secret", "Client secret", required=True, secret=True),
            KindField("refresh_token", "Refresh token", secret=True),
            KindField("objects", "Objects", type="list", placeholder="Account, Contact, Opportunity",
                      help=_OBJECTS_HELP),
        ],
    },
    "hubspot": {
        "label": "HubSpot",
        "blurb": "CRM v3 objects with a private-app token.",
        "tone": "purple",
        "fields": [
            KindField("access_token", "Private-app token", required=True, secret=True, placeholder="pat-..."),
            KindField("objects", "Objects", type="list", placeholder="companies, contacts, deals", help=_OBJECTS_HELP),
        ],
    },
    "dynamics": {
        "label": "Dynamics 365",
        "blurb": "Dataverse Web API (OData) with OAuth client credentials.",
        "tone": "purple",
        "fields": [
            KindField("environment_url", "Environment URL", type="url", required=True,
                      placeholder="https://yourorg.crm.dynamics.com"),
            KindField("tenant_id", "Azure tenant id", required=True),
            KindField("client_id", "Client id", required=True),
            KindField("client_secret", "Client secret", required=True, secret=True),
            KindField("objects", "Entities", type="list", placeholder="accounts, contacts, opportunities",
                      help=_OBJECTS_HELP),
        ],
    },
}


def kind_fields(kind: str) -> list[KindField]:
    return list(KIND_FORMS.get(kind, {}).get("fields", []))
