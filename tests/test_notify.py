"""Slack notifications against a local HTTP server speaking the incoming-webhook protocol."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from autonomos.core.notify import notify_slack


class _Webhook(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok" if type(self).status == 200 else b"invalid_payload")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Webhook.received, _Webhook.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/XXXX", _Webhook
    server.shutdown()


def test_notification_is_posted_as_slack_json(webhook):
    url, handler = webhook
    assert notify_slack(text="Drift detected on Salesforce: Amount → Amount__c", url=url) is True
    expected = {"text": "Drift detected on Salesforce: Amount → Amount__c"}
    assert handler.received == [("/services/T000/B000/XXXX", expected)]


def test_refused_notification_returns_false_and_does_not_raise(webhook, caplog):
    url, handler = webhook
    handler.status = 400
    assert notify_slack(text="x", url=url) is False
    assert "refused" in caplog.text


def test_unreachable_webhook_returns_false_and_does_not_raise(caplog):
    assert notify_slack(text="x", url="http://127.0.0.1:1/hook", timeout=0.5) is False
    assert "failed" in caplog.text


def test_no_webhook_configured_sends_nothing(settings):
    settings.SLACK_WEBHOOK_URL = ""
    assert notify_slack(text="x") is False
