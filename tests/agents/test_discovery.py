"""Discovery: the external service (a local HTTP server speaking our contract), the built-in scan,
risk classification, logging and the hand-off to the agents."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from agents.discovery.classify import classes_of_field, classify
from agents.discovery.contracts import DiscoveredAsset, DiscoverRequest
from agents.models import DiscoveryLog, Job
from autonomos.core.events import read_events
from tests.conftest import free_port, host_of

from .helpers import assert_error, in_schema, make_connection

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class FakeDiscovery:
    """A discovery service on 127.0.0.1: answers each POST with the next scripted (status, body)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                outer.requests.append((self.path, json.loads(raw)))
                status, body = outer.answers.pop(0) if len(outer.answers) > 1 else outer.answers[0]
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


ASSETS = {
    "request_id": "srv-1",
    "summary": "3 assets",
    "assets": [
        {"asset_id": "crm.contacts", "name": "contacts", "asset_type": "object", "source": "salesforce",
         "owner": "ops@alpha.example", "entity": "contact", "fields": ["Email", "SSN__c", "FirstName"],
         "last_seen": datetime.now(UTC).isoformat(), "unexpected": "ignored"},
        {"asset_id": "i-1", "name": "web-1", "asset_type": "cloud_resource", "source": "aws", "owner": "web",
         "entity": "cloud_resource", "tags": {}, "last_seen": datetime.now(UTC).isoformat()},
        {"asset_id": "wh.orders", "name": "orders", "asset_type": "table", "source": "postgres",
         "owner": "data@alpha.example", "fields": ["order_id", "amount"], "last_seen": datetime.now(UTC).isoformat()},
    ],
}


@pytest.fixture
def no_backoff(monkeypatch):
    from agents.discovery import client

    monkeypatch.setattr(client, "BACKOFF_SECONDS", 0)


def test_external_discovery_sends_a_typed_request_without_secrets_and_logs_the_exchange(api_a, tenant_a, settings):
    make_connection(tenant_a, name="warehouse", kind="postgres", config={"dsn": "postgres://u:hunter2@db/x"},
                    secrets={"password": "s3cret-token"})
    with FakeDiscovery([(200, ASSETS)]) as service:
        settings.AOD_BASE_URL = service.url + "/"
        response = api_a.post("/api/aoa/discover/", {"query": "where is personal data?"}, format="json")
    assert response.status_code == 200, response.content
    [(path, sent)] = service.requests
    assert path == "/v1/discover"
    request = DiscoverRequest.model_validate(sent)
    assert (request.kind, request.query, request.tenant_id) == ("discover", "where is personal data?",
                                                                 str(tenant_a.tenant_id))
    assert [(c.name, c.kind) for c in request.context.connections] == [("warehouse", "postgres")]
    assert "s3cret-token" not in json.dumps(sent) and "hunter2" not in json.dumps(sent)

    body = response.json()
    assert body["backend"] == "external" and body["summary"] == "3 assets"
    assert body["counts"] == {"high": 1, "medium": 1, "low": 1}
    risks = {a["asset_id"]: (a["risk"], a["domain"]) for a in body["assets"]}
    assert risks == {"crm.contacts": ("high", "revops"), "i-1": ("medium", "finops"), "wh.orders": ("low", None)}
    contacts = next(a for a in body["assets"] if a["asset_id"] == "crm.contacts")
    assert contacts["reasons"][0] == "holds sensitive data: national_id (SSN__c)"
    assert contacts["data_classes"] == ["email", "national_id", "person_name"]

    with in_schema(tenant_a):
        log = DiscoveryLog.objects.get(pk=body["log_id"])
    assert (log.kind, log.backend, log.status) == ("discover", "external", "ok")
    assert log.request == sent
    assert log.response["assets"][0]["unexpected"] == "ignored"  # what came back, verbatim
    assert log.handed_to_agents["domains"] == {"revops": {"assets": 1, "asset_ids": ["crm.contacts"]},
                                               "finops": {"assets": 1, "asset_ids": ["i-1"]}}
    assert log.handed_to_agents["agents_job_id"] is None


def test_discovery_can_hand_the_assets_to_an_agents_job(api_a, tenant_a, settings,
                                                        django_capture_on_commit_callbacks):
    with FakeDiscovery([(200, ASSETS)]) as service:
        settings.AOD_BASE_URL = service.url
        with django_capture_on_commit_callbacks(execute=False):
            body = api_a.post("/api/aoa/discover/", {"query": "pipeline and cloud", "run_agents": True},
                              format="json").json()
    with in_schema(tenant_a):
        job = Job.objects.get(pk=body["agents_job_id"])
        log = DiscoveryLog.objects.get(pk=body["log_id"])
    assert (job.kind, job.status, job.params) == ("agents", "queued", {"agents": ["finops", "revops"]})
    assert log.handed_to_agents["agents_job_id"] == job.pk


def test_an_invalid_answer_from_the_service_is_502_and_logged(api_a, tenant_a, settings):
    with FakeDiscovery([(200, {"assets": [{"name": "no id"}]})]) as service:
        settings.AOD_BASE_URL = service.url
        error = assert_error(api_a.post("/api/aoa/discover/", {"query": "x"}, format="json"), 502)
    assert error["code"] == "bad_gateway"
    assert "invalid response" in error["message"] and "asset_id" in error["message"]
    with in_schema(tenant_a):
        log = DiscoveryLog.objects.get(pk=error["details"]["log_id"])
    assert log.status == "error" and log.response == {"assets": [{"name": "no id"}]}


@pytest.mark.parametrize("answer", [(200, b"<html>not json</html>"), (400, {"detail": "bad query"}),
                                    (500, {"detail": "down"})])
def test_unusable_answers_are_502_never_500(api_a, settings, no_backoff, answer):
    with FakeDiscovery([answer]) as service:
        settings.AOD_BASE_URL = service.url
        assert_error(api_a.post("/api/aoa/discover/", {"query": "x"}, format="json"), 502)


def test_a_server_error_is_retried_then_the_answer_is_used(api_a, settings, no_backoff):
    with FakeDiscovery([(503, {"detail": "busy"}), (200, ASSETS)]) as service:
        settings.AOD_BASE_URL = service.url
        response = api_a.post("/api/aoa/discover/", {"query": "x"}, format="json")
    assert response.status_code == 200
    assert len(service.requests) == 2


def test_an_unreachable_service_is_502(api_a, settings, no_backoff):
    settings.AOD_BASE_URL = f"http://127.0.0.1:{free_port()}"
    error = assert_error(api_a.post("/api/aoa/discover/", {"query": "x"}, format="json"), 502)
    assert error["message"].startswith("could not reach the discovery service")


def test_the_external_scan_classifies_every_asset(api_a, tenant_a, settings):
    with FakeDiscovery([(200, ASSETS)]) as service:
        settings.AOD_BASE_URL = service.url
        body = api_a.post("/api/aoa/demo-scan/", {}, format="json").json()
    assert service.requests[0][0] == "/v1/scan"
    assert body["counts"] == {"high": 1, "medium": 1, "low": 1}


def test_builtin_discovery_scans_the_tenants_own_connections(api_a, tenant_a):
    make_connection(tenant_a, name="sf", kind="salesforce")
    make_connection(tenant_a, name="owned", kind="hubspot", config={"owner": "revops@alpha.example"},
                    last_synced_at=datetime.now(UTC))
    body = api_a.post("/api/aoa/discover/", {"query": "stale sources"}, format="json").json()
    assert body["backend"] == "builtin"
    assert body["intents"] == ["stale"]
    names = {a["name"]: a for a in body["assets"] if a["asset_type"] == "source"}
    assert set(names) == {"sf"}  # "owned" was synced just now: not stale
    assert names["sf"]["risk"] == "medium"
    assert "never synced" in names["sf"]["reasons"] and "no owner recorded" in names["sf"]["reasons"]


def test_discovery_logs_are_listed_for_their_tenant_only(api_a, api_b, tenant_a, tenant_b):
    api_a.post("/api/aoa/discover/", {"query": "alpha's question"}, format="json")
    api_b.post("/api/aoa/discover/", {"query": "beta's question"}, format="json")
    queries = [log["query"] for log in api_a.get("/api/aoa/discover/").json()["results"]]
    assert queries == ["alpha's question"]
    foreign = APIClient(HTTP_HOST=host_of(tenant_b))
    foreign.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    assert_error(foreign.get("/api/aoa/discover/"), 401)
    assert_error(foreign.post("/api/aoa/discover/", {"query": "x"}, format="json"), 401)
    assert_error(foreign.post("/api/aoa/demo-scan/", {}, format="json"), 401)


@pytest.mark.parametrize("body", [{}, {"query": ""}, {"query": "   "}, {"query": "x" * 2001},
                                  {"query": "x", "max_assets": 0}, {"query": "x", "run_agents": "perhaps"},
                                  {"query": ["x"]}])
def test_bad_discovery_requests_are_400(api_a, tenant_a, body):
    assert_error(api_a.post("/api/aoa/discover/", body, format="json"), 400)
    with in_schema(tenant_a):
        assert not DiscoveryLog.objects.exists()


def test_bad_scan_requests_are_400(api_a):
    assert_error(api_a.post("/api/aoa/demo-scan/", {"max_assets": "all"}, format="json"), 400)


# --- classification rules ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "samples", "expected"), [
    ("Email", [], {"email"}),
    ("hs_email_address", [], {"email"}),
    ("BirthDate", [], {"date_of_birth"}),
    ("SSN__c", [], {"national_id"}),
    ("MobilePhone", [], {"phone"}),
    ("billing_street", [], {"address"}),
    ("notes", ["reach me at jane@example.com"], set()),
    ("notes", ["jane@example.com"], {"email"}),
    ("ref", ["123-45-6789"], {"national_id"}),
    ("ref", ["4111 1111 1111 1111"], {"payment_card"}),
    ("ref", ["4111 1111 1111 1112"], set()),  # fails the Luhn check: just a number
    ("amount", ["1200.50"], set()),
    ("ip", [], {"ip_address"}),
    ("client_ip_address", [], {"ip_address"}),
    ("MailingAddress", [], {"address"}),
    ("shipping_method", [], set()),
])
def test_data_classes_come_from_field_names_and_sample_values(name, samples, expected):
    assert classes_of_field(name, samples) == expected


def _asset(**kw):
    kw.setdefault("asset_id", "a")
    kw.setdefault("owner", "someone")
    kw.setdefault("last_seen", NOW)
    return DiscoveredAsset(**kw)


@pytest.mark.parametrize(("asset", "risk", "reason"), [
    (_asset(fields=["iban"]), "high", "holds sensitive data: bank_account (iban)"),
    (_asset(fields=["email"], owner=None), "high", "personal data in an unowned or stale asset"),
    (_asset(fields=["email"], last_seen=NOW - timedelta(days=30)), "high", "personal data in an unowned or stale"),
    (_asset(fields=["email"]), "medium", "holds personal contact data: email (email)"),
    (_asset(owner=None), "medium", "no owner recorded"),
    (_asset(last_seen=NOW - timedelta(days=8)), "medium", "stale: last synced or seen 8 days ago"),
    (_asset(attributes={"status": "error"}), "medium", "source status is error"),
    (_asset(asset_type="cloud_resource", tags={"team": ""}), "medium", "cloud resource without tags"),
    (_asset(attributes={"scan_error": "TimeoutError"}), "medium", "could not be scanned: TimeoutError"),
    (_asset(fields=["id", "amount"]), "low", "no personal data, owned and current"),
])
def test_risk_levels_come_with_their_reasons(asset, risk, reason):
    classified = classify(asset, now=NOW, stale_days=7)
    assert classified.risk == risk
    assert any(r.startswith(reason) for r in classified.reasons), classified.reasons


def test_builtin_scan_reads_each_objects_fields_and_never_exposes_sample_values(api_a, tenant_a, tmp_path):
    from connectors.services import connection_create

    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "people.csv").write_text("id,first_name,contact,SSN\n1,Ann,ann@example.com,123-45-6789\n"
                                       "2,Bob,bob@example.com,987-65-4321\n")
    (folder / "orders.csv").write_text("id,amount\n1,10.5\n2,20\n")
    with in_schema(tenant_a):
        conn = connection_create(name="crm export", kind="filesource",
                                 config={"folder": str(folder), "source_system": "salesforce"})
        broken = connection_create(name="gone", kind="filesource", config={"folder": str(folder)})
        broken.config = {"folder": str(tmp_path / "missing")}
        broken.save()
    response = api_a.post("/api/aoa/demo-scan/", {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assets = {a["asset_id"]: a for a in body["assets"]}
    people = assets[f"object:{conn.pk}:people"]
    assert people["risk"] == "high"
    assert people["data_classes"] == ["email", "national_id", "person_name"]
    assert people["reasons"][0] == "holds sensitive data: national_id (SSN)"
    assert people["domain"] == "revops"  # the connection's source_system hint
    orders = assets[f"object:{conn.pk}:orders"]
    assert orders["data_classes"] == [] and orders["risk"] == "medium"
    assert "never synced" in orders["reasons"]
    gone = assets[f"connection:{broken.pk}"]
    assert any(r.startswith("could not be scanned") for r in gone["reasons"])
    text = response.content.decode()
    assert "ann@example.com" not in text and "123-45-6789" not in text
    with in_schema(tenant_a):
        logged = json.dumps(DiscoveryLog.objects.get(pk=body["log_id"]).response)
    assert "ann@example.com" not in logged and "123-45-6789" not in logged


def _crm_export(tenant, tmp_path):
    from connectors.services import connection_create

    folder = tmp_path / "crm-export"
    folder.mkdir()
    (folder / "people.csv").write_text("id,first_name,email\n1,Ann,ann@example.com\n")
    (folder / "orders.csv").write_text("id,amount\n1,10.5\n")
    with in_schema(tenant):
        return connection_create(name="crm export", kind="filesource", config={"folder": str(folder)})


def _approve_all_asset_items(tenant):
    """Approve every asset item through the review service, as a reviewer in the admin would."""
    from django.contrib.auth import get_user_model

    from aam.drift.review import review_decide
    from aam.models import ReviewItem

    with in_schema(tenant):
        admin = get_user_model().objects.get(username="admin")
        for item in ReviewItem.objects.filter(kind="asset"):
            review_decide(item=item, decision="approve", user=admin, note="mine")


def test_a_flagged_asset_item_is_not_duplicated_by_a_rescan(api_a, tenant_a, tmp_path):
    from django.contrib.auth import get_user_model

    from aam.drift.review import review_decide
    from aam.models import ReviewItem

    _crm_export(tenant_a, tmp_path)
    api_a.post("/api/aoa/demo-scan/", {}, format="json")
    with in_schema(tenant_a):
        item = ReviewItem.objects.filter(kind="asset").first()
        review_decide(item=item, decision="flag", user=get_user_model().objects.get(username="admin"))
    assert api_a.post("/api/aoa/demo-scan/", {}, format="json").json()["review_items_created"] == 0


def test_a_scan_turns_high_and_medium_assets_into_review_items_once(api_a, tenant_a, tmp_path):
    from aam.models import ReviewItem

    conn = _crm_export(tenant_a, tmp_path)
    body = api_a.post("/api/aoa/demo-scan/", {}, format="json").json()
    flagged = sorted(a["asset_id"] for a in body["assets"] if a["risk"] in ("high", "medium"))
    assert flagged == [f"connection:{conn.pk}", f"object:{conn.pk}:orders", f"object:{conn.pk}:people"]
    assert body["review_items_created"] == 3
    with in_schema(tenant_a):
        items = {i.proposal["asset_id"]: i for i in ReviewItem.objects.filter(kind="asset")}
    assert sorted(items) == flagged
    people = items[f"object:{conn.pk}:people"]
    assert (people.status, people.risk, people.connection_id) == ("pending", "high", conn.pk)
    assert people.title == "High risk object: crm export / people"
    assert people.evidence["data_classes"] == ["email", "person_name"]
    assert "personal data in an unowned or stale asset" in people.evidence["reasons"]
    assert "ann@example.com" not in json.dumps(people.evidence)
    review_events = [e["payload"] for e in read_events(tenant_a) if e["type"] == "review_required"]
    assert sorted(e["review_item_id"] for e in review_events) == sorted(i.pk for i in items.values())

    again = api_a.post("/api/aoa/demo-scan/", {}, format="json").json()
    assert again["review_items_created"] == 0
    with in_schema(tenant_a):
        assert ReviewItem.objects.filter(kind="asset").count() == 3


def test_approving_an_asset_item_records_its_owner_for_the_next_scans(api_a, tenant_a, tmp_path):
    conn = _crm_export(tenant_a, tmp_path)
    api_a.post("/api/aoa/demo-scan/", {}, format="json")
    _approve_all_asset_items(tenant_a)
    body = api_a.post("/api/aoa/demo-scan/", {}, format="json").json()
    assets = {a["asset_id"]: a for a in body["assets"]}
    source = assets[f"connection:{conn.pk}"]
    assert source["owner"] == "admin"
    assert "no owner recorded" not in source["reasons"]
    people = assets[f"object:{conn.pk}:people"]
    assert people["owner"] == "admin"
    # Owned now: contact data alone is medium, lower than what was approved, so nothing new to review.
    assert people["risk"] == "medium"
    assert body["review_items_created"] == 0


def test_an_approved_asset_is_queued_again_when_it_gets_worse(api_a, tenant_a, tmp_path):
    from aam.models import ReviewItem

    conn = _crm_export(tenant_a, tmp_path)
    api_a.post("/api/aoa/demo-scan/", {}, format="json")
    _approve_all_asset_items(tenant_a)
    folder = tmp_path / "crm-export"
    (folder / "orders.csv").write_text("id,amount,card_number\n1,10.5,4111111111111111\n")
    body = api_a.post("/api/aoa/demo-scan/", {}, format="json").json()
    assert body["review_items_created"] == 1
    with in_schema(tenant_a):
        [item] = ReviewItem.objects.filter(kind="asset", status="pending")
    assert item.proposal["asset_id"] == f"object:{conn.pk}:orders"
    assert (item.risk, item.evidence["data_classes"]) == ("high", ["payment_card"])
