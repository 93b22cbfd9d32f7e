"""Dashboard pages for connections: list, add (a form per kind, secrets masked), test, schema.

"Sync now" is a button that posts to `/api/connections/<id>/sync/` (the sync belongs to aam, the
layer above); its progress arrives over the live events socket.
"""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from autonomos.core.pages import page
from autonomos.core.roles import Role, role_required

from .models import Connection
from .page_forms import KIND_FORMS, MANAGED_ELSEWHERE, KindField, kind_fields
from .panels import connection_panels
from .scrub import scrub
from .selectors import connection_file_keys, connection_get, connection_list, secrets_set
from .services import (
    DATA_CHOICES,
    DATA_REMOVE,
    connection_create,
    connection_delete,
    connection_discover,
    connection_file_list,
    connection_file_upload,
    connection_key_set,
    connection_test,
    connection_update,
)

logger = logging.getLogger(__name__)


def _connection_or_404(pk: int) -> Connection:
    try:
        return connection_get(connection_id=pk)
    except Connection.DoesNotExist:
        raise Http404("No such connection") from None


# ---- Forms -----------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several CSV files in one input (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".csv,.tsv,text/csv"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class ConnectionForm(forms.Form):
    """Common fields; the kind's own fields come from its pydantic models (`page_forms.py`)."""

    name = forms.CharField(max_length=200, help_text="A name you will recognise, e.g. “Salesforce EU”.")
    drift_policy = forms.ChoiceField(choices=Connection.DriftPolicy.choices, initial=Connection.DriftPolicy.AUTO,
                                     help_text="What happens when the source's schema changes.")
    domain = forms.ChoiceField(choices=Connection.Domain.choices, required=False,
                               help_text="Which agents use this source.")

    def __init__(self, *args, kind: str, editing: Connection | None = None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.editing = editing
        self.kind_fields: list[KindField] = kind_fields(kind)
        stored = set(_secret_names(editing)) if editing is not None else set()
        for spec in self.kind_fields:
            self.fields[spec.name] = spec.form_field(editing=editing is not None, is_set=spec.name in stored)
        if kind == Connection.Kind.FILESOURCE:
            self.fields["upload"] = MultipleFileField(
                required=False, label="Upload CSV files",
                help_text="One file per object (e.g. Account.csv). You can add more later.")

    def config_and_secrets(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split the cleaned data into the config to store and the secrets that were typed in.

        A secret left blank is not sent: on edit the stored one is kept (the page never shows it).
        """
        config: dict[str, Any] = {}
        secrets: dict[str, Any] = {}
        for spec in self.kind_fields:
            value = spec.to_python(self.cleaned_data.get(spec.name))
            if value in (None, "", []):
                continue
            (secrets if spec.secret else config)[spec.name] = value
        return config, secrets

    def uploads(self) -> list:
        return self.cleaned_data.get("upload") or []

    def secret_fields(self):
        return [self[f.name] for f in self.kind_fields if f.secret]

    def config_fields(self):
        return [self[f.name] for f in self.kind_fields if not f.secret and not f.advanced]

    def advanced_fields(self):
        return [self[f.name] for f in self.kind_fields if not f.secret and f.advanced]


def _apply_service_errors(form: ConnectionForm, exc: Exception) -> None:
    """Show a service's validation errors next to the right inputs.

    The service keys them `config.<field>` / `secrets.<field>` (or a model field name); anything
    that names no input is shown at the top of the form.
    """
    if isinstance(exc, ValidationError) and hasattr(exc, "message_dict"):
        for key, errs in exc.message_dict.items():
            field = key.split(".", 1)[1] if key.startswith(("config.", "secrets.")) else key
            field = field.split(".", 1)[0]
            target = field if field in form.fields else None
            for err in errs:
                if target is None and key not in ("__all__", "config", "secrets"):
                    err = f"{key}: {err}"
                form.add_error(target, err)
        return
    if isinstance(exc, ValidationError):
        for err in exc.messages:
            form.add_error(None, err)
        return
    form.add_error(None, _safe_error(exc) or "The connection could not be saved.")


def _store_uploads(request: HttpRequest, connection: Connection, files: list) -> int:
    """Upload CSV files through the service; each refused file is reported, the others kept."""
    stored = 0
    for f in files:
        try:
            connection_file_upload(connection=connection, filename=f.name, content=f, size=f.size)
        except ValidationError as exc:
            messages.error(request, f"{f.name}: {'; '.join(exc.messages)}")
        else:
            stored += 1
    return stored


# ---- Pages -----------------------------------------------------------------------------------


@login_required
def connection_list_page(request: HttpRequest) -> HttpResponse:
    connections = list(connection_list())
    counts = {s: 0 for s, _ in Connection.Status.choices}
    for c in connections:
        counts[c.status] = counts.get(c.status, 0) + 1
    return page(request, "connectors/list.html", "connections", {
        "connections": connections,
        "counts": counts,
        "kinds": KIND_FORMS,
    })


@login_required
def connection_new_page(request: HttpRequest) -> HttpResponse:
    return page(request, "connectors/new.html", "connections", {"kinds": KIND_FORMS})


@role_required(Role.ADMIN)
@login_required
def connection_create_page(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in KIND_FORMS:
        raise Http404("Unknown kind")
    form = ConnectionForm(request.POST or None, request.FILES or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        config, secrets = form.config_and_secrets()
        try:
            connection = connection_create(name=form.cleaned_data["name"], kind=kind, config=config, secrets=secrets,
                                           drift_policy=form.cleaned_data["drift_policy"],
                                           domain=form.cleaned_data.get("domain") or "")
        except ValidationError as exc:
            _apply_service_errors(form, exc)
        else:
            stored = _store_uploads(request, connection, form.uploads())
            files = f" with {stored} file{'s' if stored != 1 else ''}" if stored else ""
            messages.success(request, f"Connection “{connection.name}” added{files}. Test it, then sync it.")
            return redirect("connections_ui:detail", pk=connection.pk)
    return page(request, "connectors/form.html", "connections", {
        "form": form, "kind": kind, "kind_info": KIND_FORMS[kind], "editing": None,
    }, status=400 if request.method == "POST" else 200)


@role_required(Role.ADMIN)
@login_required
def connection_edit_page(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    initial = {"name": connection.name, "drift_policy": connection.drift_policy, "domain": connection.domain}
    for spec in kind_fields(connection.kind):
        if not spec.secret and spec.name in connection.config:
            initial[spec.name] = spec.to_initial(connection.config[spec.name])
    form = ConnectionForm(request.POST or None, request.FILES or None, kind=connection.kind, editing=connection,
                          initial=initial)
    if request.method == "POST" and form.is_valid():
        config, secrets = form.config_and_secrets()
        config.update({k: connection.config[k] for k in MANAGED_ELSEWHERE if k in (connection.config or {})})
        data = {"name": form.cleaned_data["name"], "drift_policy": form.cleaned_data["drift_policy"],
                "domain": form.cleaned_data.get("domain") or "", "config": config, "secrets": secrets}
        try:
            # A full update: the form shows every config field, so a cleared one is removed.
            connection_update(connection=connection, data=data, partial=False)
        except ValidationError as exc:
            _apply_service_errors(form, exc)
        else:
            _store_uploads(request, connection, form.uploads())
            messages.success(request, "Connection saved.")
            return redirect("connections_ui:detail", pk=connection.pk)
    return page(request, "connectors/form.html", "connections", {
        "form": form, "kind": connection.kind, "kind_info": KIND_FORMS.get(connection.kind, {}), "editing": connection,
    }, status=400 if request.method == "POST" else 200)


@login_required
def connection_detail_page(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    specs = kind_fields(connection.kind)
    config_rows = [(s.label, _display(connection.config.get(s.name))) for s in specs
                   if not s.secret and s.name in connection.config]
    known = {s.name for s in specs}
    config_rows += [(k, _display(v)) for k, v in connection.config.items() if k not in known]
    config_rows = [(label, value) for label, value in config_rows if value != ""]  # an empty setting is no pill
    files = connection.kind == Connection.Kind.FILESOURCE
    if files:  # the keys have a card of their own
        config_rows = [(label, value) for label, value in config_rows if label not in MANAGED_ELSEWHERE]
    # Only whether each secret is set, never its value.
    secret_names = [s.name for s in specs if s.secret]
    stored = _secret_names(connection)
    secret_names += [k for k in stored if k not in secret_names]
    labels = {s.name: s.label for s in specs}
    secret_rows = [(labels.get(k, k.replace("_", " ").capitalize()), k in stored) for k in secret_names]
    return page(request, "connectors/detail.html", "connections", {
        "connection": connection,
        "config_rows": config_rows,
        "secret_rows": secret_rows,
        "cursor_rows": _cursor_rows(connection.cursor),
        "files": connection_file_list(connection=connection) if files else [],
        "file_keys": _file_keys(connection) if files else [],
        "panels": connection_panels(connection),
    })


def _file_keys(connection: Connection) -> list[dict[str, Any]]:
    try:
        return connection_file_keys(connection=connection)
    except Exception as exc:  # noqa: BLE001 - an unreadable source is the schema card's message, not a 500
        logger.info("keys of connection %s not listed: %s", connection.pk, type(exc).__name__)
        return []


@role_required(Role.OPERATOR)
@login_required
@require_POST
def connection_key_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Set one file's key from the connection page: columns (up to three), the row number, or chosen again."""
    connection = _connection_or_404(pk)
    if connection.kind != Connection.Kind.FILESOURCE:
        raise Http404("Keys are for CSV connections")
    object_name = request.POST.get("object", "")
    mode = request.POST.get("mode", "columns")
    key: list[str] | str = mode if mode in ("line", "auto") else [c for c in request.POST.getlist("column") if c]
    try:
        connection_key_set(connection=connection, object_name=object_name, key=key)
    except ValidationError as exc:
        messages.error(request, f"{object_name}: {' '.join(exc.messages)}")
    except Exception as exc:  # noqa: BLE001 - a file that cannot be read is a message, not a 500
        messages.error(request, f"{object_name}: {_safe_error(exc, connection)}")
    else:
        messages.success(request, f"Key of {object_name} saved. The next sync reads the file again and replaces "
                                  "the records kept under the old key.")
    return redirect(f"{reverse('connections_ui:detail', args=[connection.pk])}#keys")


@role_required(Role.ADMIN)
@login_required
@require_POST
def connection_upload_action(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    if connection.kind != Connection.Kind.FILESOURCE:
        raise Http404("Uploads are for CSV connections")
    field = MultipleFileField(required=True)
    chosen = request.FILES.getlist("upload")
    try:
        files = field.clean(chosen)
    except ValidationError as exc:  # e.g. an empty file: say so, with its name
        if chosen:
            names = ", ".join(f.name for f in chosen if f.size == 0) or ", ".join(f.name for f in chosen)
            messages.error(request, f"{names}: {' '.join(exc.messages)}")
            return redirect("connections_ui:detail", pk=connection.pk)
        files = []
    if not files:
        messages.error(request, "Choose one or more CSV files to upload.")
    else:
        stored = _store_uploads(request, connection, files)
        if stored:
            messages.success(request, f"{stored} file{'s' if stored != 1 else ''} uploaded. Sync to load them.")
    return redirect("connections_ui:detail", pk=connection.pk)


@login_required
def connection_schema_partial(request: HttpRequest, pk: int) -> HttpResponse:
    """The source's discovered schema with sample values (an HTML fragment the detail page loads)."""
    connection = _connection_or_404(pk)
    objects, error = [], ""
    try:
        objects = list(connection_discover(connection=connection))
    except Exception as exc:  # noqa: BLE001 - a source that cannot be read is a message, not a 500
        logger.info("discover failed for connection %s: %s", connection.pk, type(exc).__name__)
        error = _safe_error(exc, connection)
    return page(request, "connectors/_schema.html", "connections", {"objects": objects, "error": error,
                                                                     "connection": connection})


@role_required(Role.OPERATOR)
@login_required
@require_POST
def connection_test_action(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    ok, message = _check(connection)
    if _wants_json(request):
        return JsonResponse({"ok": ok, "message": message})
    (messages.success if ok else messages.error)(request, f"Test {'passed' if ok else 'failed'}: {message}")
    return redirect("connections_ui:detail", pk=connection.pk)


@role_required(Role.ADMIN)
@login_required
@require_POST
def connection_delete_action(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    name = connection.name
    data = request.POST.get("data", DATA_REMOVE)
    if data not in DATA_CHOICES:
        messages.error(request, f"Choose what becomes of its records: {' or '.join(DATA_CHOICES)}.")
        return redirect("connections_ui:detail", pk=connection.pk)
    connection_delete(connection=connection, data=data)
    messages.success(request, f"Connection “{name}” deleted; "
                     + ("its records are leaving the unified views." if data == DATA_REMOVE
                        else "its records stay in the views, shown as from a removed connection."))
    return redirect("connections_ui:list")


def _check(connection: Connection) -> tuple[bool, str]:
    """The connectors service runs the check and records status / last error; it never raises for a
    source problem."""
    result = connection_test(connection=connection)
    return bool(result.ok), str(result.message or ("OK" if result.ok else "Failed"))


def _secret_names(connection: Connection) -> list[str]:
    """Names of the secrets that hold a value; the values never leave the connectors app."""
    try:
        return list(secrets_set(connection))
    except Exception as exc:  # noqa: BLE001 - e.g. SecretsUnreadable after a key change: the page still shows
        logger.warning("secrets of connection %s unreadable: %s", connection.pk, type(exc).__name__)
        return []


def _cursor_rows(cursor: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """(object, [(key, value), ...]) per object of a connection's cursor, for people: a content hash
    shortened, nested values flattened to text."""
    rows = []
    for obj, cur in sorted((cursor or {}).items()) if isinstance(cursor, dict) else ():
        if not isinstance(cur, dict):
            rows.append((str(obj), [("", _display(cur))]))
            continue
        parts = []
        for key, value in cur.items():
            text = _display(value)
            parts.append((str(key), f"{text[:12]}…" if key == "hash" and len(text) > 12 else text))
        rows.append((str(obj), parts))
    return rows


def _display(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _safe_error(exc: Exception, connection: Connection | None = None) -> str:
    """A person-readable reason with the connection's secrets scrubbed out of it."""
    text = (getattr(exc, "message", None) or str(exc)).strip() or type(exc).__name__
    if connection is not None:
        text = scrub(text, connection.secrets)
    return text[:500]


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch" or "application/json" in request.headers.get("Accept", "")
