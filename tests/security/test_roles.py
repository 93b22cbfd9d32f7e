"""Roles inside a tenant (viewer, operator, admin), enforced by one layer in the API, the dashboard and
the admin; and the tenant registry, which belongs to the platform and is out of every tenant's reach.

The policy is written out here on its own (EXPECTED_ROLE), not read back from the views, so a view
that quietly changes what it asks for fails these tests.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from autonomos.core.roles import Role
from tenants.auth import issue_tokens
from tenants.models import Domain, Tenant
from tests.conftest import PASSWORD, host_of
from tests.factories import ReviewItemFactory, UserFactory
from tests.test_api_contract import PROTECTED, _methods

pytestmark = pytest.mark.django_db

RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
# Unsafe API calls an operator may make; every other unsafe call needs an admin, every read a viewer.
OPERATOR_CALLS = {
    ("/api/aam/review/1/decide/", "post"),
    ("/api/agents/run/", "post"),
    ("/api/aoa/connect/", "post"),
    ("/api/aoa/demo-scan/", "post"),
    ("/api/aoa/discover/", "post"),
    ("/api/aoa/jobs/1/cancel/", "post"),
    ("/api/connections/1/sync/", "post"),
    ("/api/connections/1/mapping/changes/", "post"),
    ("/api/connections/1/mapping/undo/", "post"),
    ("/api/connections/1/schedule/", "put"),
    ("/api/connections/1/schedule/", "delete"),
    ("/api/connections/1/test/", "post"),
    ("/api/connections/1/runs/1/retry/", "post"),
    ("/api/connections/1/keys/", "post"),
    # entity resolution: review items and decisions (dcl/api/resolution.py)
    ("/api/dcl/matches/1/approve/", "post"),
    ("/api/dcl/matches/1/reject/", "post"),
    ("/api/dcl/decisions/", "post"),
    ("/api/dcl/decisions/1/", "delete"),
    ("/api/dcl/entities/x/merge/", "post"),
    ("/api/dcl/entities/x/x/split/", "post"),
}


def expected_role(url: str, method: str) -> Role:
    if method == "get":
        return Role.VIEWER
    return Role.OPERATOR if (url, method) in OPERATOR_CALLS else Role.ADMIN


def _user(tenant, role: Role):
    """A member with no usable password (these tests sign in with force_login or a token: no hashing)."""
    with schema_context(tenant.schema_name):
        return UserFactory(username=f"{role.value}-user", email=f"{role.value}@{tenant.slug}.example", role=role,
                           unusable_password=True)


@pytest.fixture
def members_a(tenant_a):
    """A user of each role in alpha (admin is the tenant's first user)."""
    from django.contrib.auth import get_user_model

    users = {role: _user(tenant_a, role) for role in (Role.VIEWER, Role.OPERATOR)}
    with schema_context(tenant_a.schema_name):
        users[Role.ADMIN] = get_user_model().objects.get(username="admin")
    connection.set_schema_to_public()
    return users


def _api(tenant, user) -> APIClient:
    with schema_context(tenant.schema_name):
        token = issue_tokens(user, tenant).access_token
    client = APIClient(HTTP_HOST=host_of(tenant))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _web(tenant, user) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    with schema_context(tenant.schema_name):
        client.force_login(user)
    return client


# --- API: role x endpoint x method ----------------------------------------------------------------

CALLS = [(url, method) for url, pattern in PROTECTED for method in _methods(pattern) if "/stream/" not in url]


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
@pytest.mark.parametrize("url,method", CALLS, ids=[f"{m} {u}" for u, m in CALLS])
def test_every_endpoint_and_method_answers_each_role_as_the_policy_says(url, method, role, members_a, tenant_a,
                                                                         settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # an allowed POST may queue work: queued, never run here
    client = _api(tenant_a, members_a[role])
    response = getattr(client, method)(url, {}, format="json")
    allowed = RANK[role] >= RANK[expected_role(url, method)]
    if allowed:
        assert response.status_code not in (401, 403), (role, method, url, response.status_code, response.content)
    else:
        assert response.status_code == 403, (role, method, url, response.status_code)
        assert response.json()["error"]["code"] == "permission_denied"


def test_a_viewer_reads_the_event_stream(members_a, tenant_a, settings):
    settings.SSE_MAX_SECONDS = 0.1
    response = _api(tenant_a, members_a[Role.VIEWER]).get("/api/events/stream/")
    assert response.status_code == 200


def test_me_tells_the_role(members_a, tenant_a):
    for role, user in members_a.items():
        assert _api(tenant_a, user).get("/api/auth/me/").json()["role"] == role.value


def test_a_user_without_a_member_row_is_a_viewer(tenant_a):
    from django.contrib.auth import get_user_model

    with schema_context(tenant_a.schema_name):
        bare = get_user_model().objects.create_user(username="bare", password=PASSWORD)
    client = _api(tenant_a, bare)
    assert client.get("/api/connections/").status_code == 200
    assert client.post("/api/connections/1/sync/", {}, format="json").status_code == 403


# --- Dashboard ------------------------------------------------------------------------------------

DASHBOARD_WRITES = {
    # url name: the role its POST needs
    "connections_ui:create": Role.ADMIN,
    "connections_ui:edit": Role.ADMIN,
    "connections_ui:upload": Role.ADMIN,
    "connections_ui:delete": Role.ADMIN,
    "connections_ui:test": Role.OPERATOR,
    "connections_ui:key": Role.OPERATOR,
    "aam_ui:review-decide": Role.OPERATOR,
    "aam_ui:review-bulk": Role.OPERATOR,
    "aam_ui:value-decide": Role.OPERATOR,
    "aam_connections:mapping-change": Role.OPERATOR,
    "aam_connections:mapping-undo": Role.OPERATOR,
    "dcl_ui:operations-action": Role.ADMIN,
    "dcl_ui:connection-schedule": Role.OPERATOR,
    "dcl_ui:connection-run-retry": Role.OPERATOR,
    "dashboard:agents-run": Role.OPERATOR,
    "dcl_ui:match-decide": Role.OPERATOR,
    "dcl_ui:view-record-merge": Role.OPERATOR,
    "dcl_ui:view-record-split": Role.OPERATOR,
    "dashboard:get-started-dismiss": Role.VIEWER,  # putting the home page's checklist away (the session's)
}
# Pages of the pipeline's internals (streams, consumer groups, dead letters): admins only, reading too.
ADMIN_PAGES = {"dcl_ui:operations"}
SAMPLE_KWARGS = {"pk": 999999, "kind": "filesource", "entity": "account", "unified_id": "x", "action": "reclaim",
                 "run_id": 999999, "finding_id": "x", "bar": "opening"}


def _dashboard_patterns():
    def walk(patterns, namespace=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace in ("admin",) or str(p.pattern).startswith("api/"):
                    continue
                yield from walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace)
            elif isinstance(p, URLPattern) and p.name:
                yield f"{namespace}{p.name}", p

    return [(name, p) for name, p in walk(get_resolver("autonomos.urls").url_patterns) if ":" in name]


def _url(name: str, pattern) -> str:
    kwargs = {k: SAMPLE_KWARGS[k] for k in pattern.pattern.converters}
    return reverse(name, kwargs=kwargs)


DASHBOARD = _dashboard_patterns()


def test_the_dashboard_policy_names_every_page_that_acts():
    acting = {name for name, p in DASHBOARD if "action" in p.callback.__name__ or name in DASHBOARD_WRITES}
    assert acting <= set(DASHBOARD_WRITES), acting - set(DASHBOARD_WRITES)
    assert {name for name, _ in DASHBOARD} >= set(DASHBOARD_WRITES)


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
@pytest.mark.parametrize("name,pattern", DASHBOARD, ids=[n for n, _ in DASHBOARD])
def test_every_dashboard_post_answers_each_role_as_the_policy_says(name, pattern, role, members_a, tenant_a,
                                                                    settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    response = _web(tenant_a, members_a[role]).post(_url(name, pattern), {})
    needed = DASHBOARD_WRITES.get(name, Role.ADMIN)  # a page that does not act still refuses writes below admin
    if RANK[role] >= RANK[needed]:
        assert response.status_code != 403, (name, role, response.status_code)
    else:
        assert response.status_code == 403, (name, role, response.status_code)


FORMS = ("connections_ui:create", "connections_ui:edit")  # pages whose GET shows a form only admins may send
PAGES = [(name, p) for name, p in DASHBOARD if name not in DASHBOARD_WRITES or name in FORMS]


@pytest.mark.parametrize("name,pattern", PAGES, ids=[n for n, _ in PAGES])
def test_a_viewer_can_open_every_page_that_only_shows(name, pattern, members_a, tenant_a):
    response = _web(tenant_a, members_a[Role.VIEWER]).get(_url(name, pattern))
    if name in FORMS or name in ADMIN_PAGES:
        assert response.status_code == 403  # the forms that create and change connections are an admin's
    else:
        assert response.status_code != 403, (name, response.status_code)


def test_the_pages_offer_actions_only_to_roles_that_may_take_them(members_a, tenant_a):
    viewer_home = _web(tenant_a, members_a[Role.VIEWER]).get("/connections/").content.decode()
    admin_home = _web(tenant_a, members_a[Role.ADMIN]).get("/connections/").content.decode()
    assert reverse("connections_ui:new") in admin_home
    assert reverse("connections_ui:new") not in viewer_home


# --- Admin ----------------------------------------------------------------------------------------

REGISTRY = {Tenant, Domain}
ADMIN_ONLY_APPS = {"auth", "members", "token_blacklist", "axes", "sessions"}


def _admin_urls(model, obj_id="1") -> dict[str, str]:
    base = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    return {
        "changelist": reverse(f"{base}_changelist"),
        "add": reverse(f"{base}_add"),
        "change": reverse(f"{base}_change", args=[obj_id]),
        "delete": reverse(f"{base}_delete", args=[obj_id]),
    }


def _may(role: Role, model, action: str) -> bool | None:
    """True/False, or None where the model's own admin decides (some are read-only by design, for
    everyone: review items are never added by hand, tokens never edited)."""
    if model in REGISTRY:
        return False
    if role == Role.ADMIN:
        return True if action == "changelist" else None
    if model._meta.app_label in ADMIN_ONLY_APPS:
        return False
    if action == "changelist":
        return True
    if action == "change":
        return None  # a view-only change page for viewers; a decision page for operators on review items
    return False  # adding and deleting are an admin's


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_every_admin_model_on_a_tenant_host_answers_each_role_as_the_policy_says(role, members_a, tenant_a):
    client = _web(tenant_a, members_a[role])
    index = client.get("/admin/")
    assert index.status_code == 200
    page = index.content.decode()
    checked = 0
    for model in admin.site._registry:
        urls = _admin_urls(model)
        listed = urls["changelist"] in page
        assert listed == _may(role, model, "changelist"), (role, model, "index")
        for action, url in urls.items():
            may = _may(role, model, action)
            if may is None:
                continue
            status = client.get(url).status_code
            if may:
                assert status == 200, (role, model, action, status)
            else:
                assert status in (403, 302), (role, model, action, status)  # 302: "does not exist", to index
                if status == 302:
                    assert action in ("change", "delete") and model not in REGISTRY, (role, model, action)
            checked += 1
    assert checked >= 2 * 10


def test_a_tenant_admin_cannot_repoint_another_tenants_domain(tenant_a, tenant_b):
    """The takeover: on alpha's host, alpha's admin re-points beta's domain to alpha."""
    victim = Domain.objects.get(tenant=tenant_b, is_primary=True)
    client = Client(HTTP_HOST=host_of(tenant_a))
    with schema_context(tenant_a.schema_name):
        assert client.login(username="admin", password=PASSWORD)
    change = reverse("admin:tenants_domain_change", args=[victim.pk])
    response = client.post(change, {"domain": victim.domain, "tenant": tenant_a.pk, "is_primary": "on"})
    assert response.status_code == 403
    add = client.post(reverse("admin:tenants_domain_add"), {"domain": "grab.localhost", "tenant": tenant_a.pk})
    assert add.status_code == 403
    delete = client.post(reverse("admin:tenants_tenant_delete", args=[tenant_b.pk]), {"post": "yes"})
    assert delete.status_code == 403
    connection.set_schema_to_public()
    victim.refresh_from_db()
    assert victim.tenant_id == tenant_b.pk and not Domain.objects.filter(domain="grab.localhost").exists()
    assert Tenant.objects.filter(pk=tenant_b.pk).exists()


def test_a_tenant_superuser_is_still_kept_out_of_the_registry(tenant_a, tenant_b):
    from django.contrib.auth import get_user_model

    with schema_context(tenant_a.schema_name):
        root = get_user_model().objects.create_superuser(username="root", password=PASSWORD, email="r@a.example")
    client = _web(tenant_a, root)
    victim = Domain.objects.get(tenant=tenant_b, is_primary=True)
    for url in _admin_urls(Domain, victim.pk).values():
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("admin:tenants_domain_change", args=[victim.pk]),
                       {"domain": victim.domain, "tenant": tenant_a.pk}).status_code == 403


def test_platform_staff_manage_the_registry_on_the_public_host_only(tenant_a):
    from django.contrib.auth import get_user_model

    connection.set_schema_to_public()
    staff = get_user_model().objects.create_superuser(username="platform", password=PASSWORD, email="p@x.example")
    clerk = get_user_model().objects.create_user(username="clerk", password=PASSWORD, is_staff=True)
    public = Client(HTTP_HOST="localhost")
    public.force_login(staff)
    assert public.get(reverse("admin:tenants_tenant_changelist")).status_code == 200
    assert public.get(reverse("admin:tenants_domain_add")).status_code == 200
    others = Client(HTTP_HOST="localhost")
    others.force_login(clerk)  # public staff without superuser: not platform staff
    assert others.get(reverse("admin:tenants_tenant_changelist")).status_code in (302, 403)
    # A tenant admin's credentials mean nothing on the public host (users are per schema).
    assert not Client(HTTP_HOST="localhost").login(username="admin", password=PASSWORD)


def test_review_actions_in_the_admin_need_the_operator_role(members_a, tenant_a):
    with schema_context(tenant_a.schema_name):
        item = ReviewItemFactory(kind="mapping", title="probe", confidence=0.6)
    url = reverse("admin:aam_reviewitem_changelist")
    for role, allowed in ((Role.VIEWER, False), (Role.OPERATOR, True)):
        client = _web(tenant_a, members_a[role])
        page = client.get(url).content.decode()
        assert ("approve_selected" in page) is allowed, role
        client.post(url, {"action": "flag_selected", "_selected_action": [item.pk]})
        with schema_context(tenant_a.schema_name):
            item.refresh_from_db()
        assert (item.status == "flagged") is allowed, role


def test_the_tenant_user_command_adds_users_changes_roles_and_revokes_tokens(tenant_a, monkeypatch):
    from django.contrib.auth import get_user_model
    from django.core.management import CommandError, call_command

    monkeypatch.setenv("NEW_USER_PASSWORD", PASSWORD)
    call_command("tenant_user", tenant="alpha", username="ops", role="operator", password_env="NEW_USER_PASSWORD")
    with schema_context("alpha"):
        ops = get_user_model().objects.get(username="ops")
        assert ops.member.role == Role.OPERATOR and ops.check_password(PASSWORD)
        before = ops.member.token_version
    call_command("tenant_user", tenant="alpha", username="ops", role="viewer", revoke_tokens=True)
    with schema_context("alpha"):
        ops.member.refresh_from_db()
        assert ops.member.role == Role.VIEWER and ops.member.token_version == before + 1
    with pytest.raises(CommandError):
        call_command("tenant_user", tenant="public", username="ops", role="admin")
    with pytest.raises(CommandError):
        call_command("tenant_user", tenant="alpha", username="nobody", role="admin")
    monkeypatch.setenv("WEAK", "123")
    with pytest.raises(CommandError):
        call_command("tenant_user", tenant="alpha", username="weak", password_env="WEAK")


def test_platform_staff_delete_tenants_with_the_command_not_the_admin(tenant_b):
    from django.contrib.auth import get_user_model

    connection.set_schema_to_public()
    staff = get_user_model().objects.create_superuser(username="platform2", password=PASSWORD, email="q@x.example")
    public = Client(HTTP_HOST="localhost")
    public.force_login(staff)
    response = public.post(reverse("admin:tenants_tenant_delete", args=[tenant_b.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Tenant.objects.filter(pk=tenant_b.pk).exists()
