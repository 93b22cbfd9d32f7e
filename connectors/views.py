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
from django.views.decorators.http import require_POST

from autonomos.core.pages import first_available, optional, page

from .models import Connection
from .page_forms import KIND_FORMS, KindField, kind_fields

logger = logging.getLogger(__name__)


def _connection_or_404(pk: int) -> Connection:
    getter = optional("connectors.selectors.connection_get")
    try:
        connection = getter(connection_id=pk) if getter else Connection.objects.filter(pk=pk).first()
    except Connection.DoesNotExist:
        connection = None
    except TypeError:  # a selector with a different signature: fall back to the tenant manager
        connection = Connection.objects.filter(pk=pk).first()
    if connection is None:
        raise Http404("No such connection")
    return connection


def _connections():
    lister = optional("connectors.selectors.connection_list")
    return list(lister()) if lister else list(Connection.objects.all())


# ---- Forms -----------------------------------------------------------------------------------


class ConnectionForm(forms.Form):
    """Common fields; the kind's own fields are added from `connectors/page_forms.py`."""

    name = forms.CharField(max_length=200, help_text="A name you will recognise, e.g. “Salesforce EU”.")
    drift_policy = forms.ChoiceField(choices=Connection.DriftPolicy.choices, initial=Connection.DriftPolicy.AUTO,
                                     help_text="What happens when the source's schema changes.")
    domain = forms.ChoiceField(choices=Connection.Domain.choices, required=False,
                               help_text="Which agents use this source.")

    def __init__(self, *args, kind: str, editing: Connection | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.editing = editing
        self.kind_fields: list[KindField] = kind_fields(kind)
        for spec in self.kind_fields:
            self.fields[spec.name] = spec.form_field(editing=editing is not None,
                                                     is_set=bool(editing and editing.secrets.get(spec.name)))

    def config_and_secrets(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split the cleaned data into the stored config and the write-only secrets.

        On edit a blank secret means "keep the stored one" (the page never shows secrets back).
        """
        config: dict[str, Any] = {}
        secrets: dict[str, Any] = {}
        for spec in self.kind_fields:
            value = spec.to_python(self.cleaned_data.get(spec.name))
            if spec.secret:
                if value in (None, ""):
                    if self.editing is not None and spec.name in self.editing.secrets:
                        secrets[spec.name] = self.editing.secrets[spec.name]
                    continue
                secrets[spec.name] = value
            elif value not in (None, "", []):
                config[spec.name] = value
        return config, secrets

    def secret_fields(self):
        return [self[f.name] for f in self.kind_fields if f.secret]

    def config_fields(self):
        return [self[f.name] for f in self.kind_fields if not f.secret]


def _apply_service_errors(form: ConnectionForm, exc: Exception) -> None:
    """Show a service's validation error next to the right field when it names one."""
    if isinstance(exc, ValidationError) and hasattr(exc, "message_dict"):
        for field, errs in exc.message_dict.items():
            target = field if field in form.fields else None
            if target is None and field in ("config", "secrets", "__all__"):
                target = None
            for err in errs:
                form.add_error(target, err)
        return
    details = getattr(exc, "errors", None)
    if callable(details):  # a pydantic ValidationError
        try:
            for err in details():
                loc = [str(p) for p in err.get("loc", ())]
                target = next((p for p in loc if p in form.fields), None)
                form.add_error(target, err.get("msg", "Invalid value"))
            return
        except Exception:  # noqa: BLE001 - fall through to the plain message
            pass
    form.add_error(None, str(exc) or "The connection could not be saved.")


# ---- Pages -----------------------------------------------------------------------------------


@login_required
def connection_list_page(request: HttpRequest) -> HttpResponse:
    connections = _connections()
    counts = {s: 0 for s, _ in Connection.Status.choices}
    for c in connections:
        counts[c.status] = counts.get(c.status, 0) + 1
    return page(request, "connectors/list.html", "connections", {
        "connections": connections,
        "counts": counts,
        "kinds": KIND_FORMS,
        "can_create": optional("connectors.services.connection_create") is not None,
    })


@login_required
def connection_new_page(request: HttpRequest) -> HttpResponse:
    return page(request, "connectors/new.html", "connections", {"kinds": KIND_FORMS})


@login_required
def connection_create_page(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in KIND_FORMS:
        raise Http404("Unknown kind")
    create = optional("connectors.services.connection_create")
    form = ConnectionForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        if create is None:
            form.add_error(None, "Connections cannot be created on this build yet (the connectors service is missing).")
        else:
            config, secrets = form.config_and_secrets()
            try:
                connection = create(name=form.cleaned_data["name"], kind=kind, config=config, secrets=secrets,
                                    drift_policy=form.cleaned_data["drift_policy"],
                                    domain=form.cleaned_data.get("domain") or "")
            except Exception as exc:  # noqa: BLE001 - any validation failure is shown on the form
                logger.info("connection create rejected: %s", type(exc).__name__)
                _apply_service_errors(form, exc)
            else:
                messages.success(request, f"Connection “{connection.name}” added. Test it, then sync it.")
                return redirect("connection-detail", pk=connection.pk)
    return page(request, "connectors/form.html", "connections", {
        "form": form, "kind": kind, "kind_info": KIND_FORMS[kind], "editing": None,
    }, status=400 if request.method == "POST" else 200)


@login_required
def connection_edit_page(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    update = optional("connectors.services.connection_update")
    initial = {"name": connection.name, "drift_policy": connection.drift_policy, "domain": connection.domain}
    for spec in kind_fields(connection.kind):
        if not spec.secret and spec.name in connection.config:
            initial[spec.name] = spec.to_initial(connection.config[spec.name])
    form = ConnectionForm(request.POST or None, kind=connection.kind, editing=connection, initial=initial)
    if request.method == "POST" and form.is_valid():
        if update is None:
            form.add_error(None, "Connections cannot be edited on this build yet (the connectors service is missing).")
        else:
            config, secrets = form.config_and_secrets()
            try:
                update(connection=connection, name=form.cleaned_data["name"], config=config, secrets=secrets,
                       drift_policy=form.cleaned_data["drift_policy"], domain=form.cleaned_data.get("domain") or "")
            except Exception as exc:  # noqa: BLE001
                _apply_service_errors(form, exc)
            else:
                messages.success(request, "Connection saved.")
                return redirect("connection-detail", pk=connection.pk)
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
    secret_rows = [(s.label, bool(connection.secrets.get(s.name))) for s in specs if s.secret]
    return page(request, "connectors/detail.html", "connections", {
        "connection": connection,
        "config_rows": config_rows,
        "secret_rows": secret_rows,
        "cursor_rows": sorted((connection.cursor or {}).items()),
        "can_delete": optional("connectors.services.connection_delete") is not None,
    })


@login_required
def connection_schema_partial(request: HttpRequest, pk: int) -> HttpResponse:
    """The source's discovered schema with sample values (an HTML fragment the detail page loads)."""
    connection = _connection_or_404(pk)
    driver_for = optional("connectors.registry.driver_for")
    objects, error = [], ""
    if driver_for is None:
        error = "Schema discovery is not available on this build yet."
    else:
        try:
            objects = list(driver_for(connection).discover())
        except Exception as exc:  # noqa: BLE001 - a source that cannot be read is a message, not a 500
            logger.info("discover failed for connection %s: %s", connection.pk, type(exc).__name__)
            error = _safe_error(exc)
    return page(request, "connectors/_schema.html", "connections", {"objects": objects, "error": error,
                                                                     "connection": connection})


@login_required
@require_POST
def connection_test_action(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    ok, message = _check(connection)
    if _wants_json(request):
        return JsonResponse({"ok": ok, "message": message})
    (messages.success if ok else messages.error)(request, f"Test {'passed' if ok else 'failed'}: {message}")
    return redirect("connection-detail", pk=connection.pk)


@login_required
@require_POST
def connection_delete_action(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    delete = optional("connectors.services.connection_delete")
    if delete is None:
        messages.error(request, "Connections cannot be deleted on this build yet.")
        return redirect("connection-detail", pk=connection.pk)
    name = connection.name
    delete(connection=connection)
    messages.success(request, f"Connection “{name}” deleted.")
    return redirect("connection-list")


def _check(connection: Connection) -> tuple[bool, str]:
    tester = first_available("connectors.services.connection_test", "connectors.services.connection_check")
    try:
        if tester is not None:
            result = tester(connection=connection)
        else:
            driver_for = optional("connectors.registry.driver_for")
            if driver_for is None:
                return False, "Connection tests are not available on this build yet."
            result = driver_for(connection).check()
    except Exception as exc:  # noqa: BLE001 - the test's job is to report failures
        return False, _safe_error(exc)
    return bool(getattr(result, "ok", False)), str(getattr(result, "message", "") or ("OK" if result else "Failed"))


def _display(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _safe_error(exc: Exception) -> str:
    """A person-readable reason; connector errors are written to be shown (no secrets in them)."""
    text = str(exc).strip()
    name = type(exc).__name__
    if not text:
        return name
    return text[:500]


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch" or "application/json" in request.headers.get("Accept", "")
