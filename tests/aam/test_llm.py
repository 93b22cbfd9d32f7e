"""The LLM client and the coverage check, against a local server speaking the chat-completions API."""

import json

import pytest

from aam.mapping import map_source
from aam.mapping.llm_step import parse_answer
from autonomos.core.llm import LLMError, get_llm_client, llm_usage
from autonomos.core.redis import get_redis

pytestmark = pytest.mark.django_db

COLUMNS = [
    {"name": "first_name", "type": "string", "samples": ["Ana", "Li"]},
    {"name": "last_name", "type": "string", "samples": ["Souza", "Wu"]},
    {"name": "email", "type": "string", "samples": ["ana@example.com", "li@example.org"]},
    {"name": "Kontakt Telefon", "type": "string", "samples": ["(415) 555-0134", "+49 30 1234567"]},
    {"name": "Zustaendig", "type": "string", "samples": ["dana@ourco.com", "lee@ourco.com"]},
]
UNCERTAIN = {"Kontakt Telefon", "Zustaendig"}


def answer(*items):
    return json.dumps({"mappings": [{"source_field": s, "canonical_field": c, "confidence": q} for s, c, q in items]})


def by_field(result):
    return {m.source_field: m for m in result.mappings}


def test_without_a_base_url_there_is_no_client_and_mapping_still_works(settings, in_tenant_a):
    settings.LLM_BASE_URL = ""
    assert get_llm_client() is None
    result = map_source(columns=COLUMNS, object_name="contacts", tenant=in_tenant_a, use_llm=True)
    assert by_field(result)["email"].canonical_field == "email"
    assert "LLM requested but not configured" in result.notes


def test_the_llm_is_asked_only_about_uncertain_fields_in_one_batched_call(fake_llm, in_tenant_a):
    fake_llm.reply(answer(("Kontakt Telefon", "phone", 0.9), ("Zustaendig", "owner_id", 0.85)))
    result = map_source(columns=COLUMNS, object_name="contacts", tenant=in_tenant_a)
    assert len(fake_llm.requests) == 1
    sent = fake_llm.user_payload()
    assert {c["name"] for c in sent["columns"]} == UNCERTAIN
    assert set(sent["already_mapped"]) == {"first_name", "last_name", "email"}
    assert "email" not in {f["name"] for f in sent["canonical_fields"]}  # taken fields are not offered
    m = by_field(result)
    assert m["Kontakt Telefon"].canonical_field == "phone"
    assert m["Kontakt Telefon"].method == "llm"
    assert m["Kontakt Telefon"].decision == "review"  # the LLM alone never applies a mapping
    assert m["Zustaendig"].canonical_field == "owner_id"
    assert m["first_name"].method != "llm"
    assert result.llm_used


def test_llm_calls_and_tokens_are_counted_per_tenant_in_redis(fake_llm, in_tenant_a, tenant_b):
    fake_llm.reply(answer(("Kontakt Telefon", "phone", 0.9)), prompt_tokens=321, completion_tokens=45)
    map_source(columns=COLUMNS, object_name="contacts", tenant=in_tenant_a)
    usage = llm_usage(in_tenant_a)
    assert usage["calls"] == 1
    assert usage["prompt_tokens"] == 321 and usage["completion_tokens"] == 45
    assert usage["by_purpose"]["mapping"]["calls"] == 1
    assert llm_usage(tenant_b)["calls"] == 0
    keys = get_redis().keys("llm:usage:*")
    assert keys and all(f"{{{in_tenant_a.tenant_id}}}" in k for k in keys)


@pytest.mark.parametrize(
    "garbage",
    [
        "Sure! Kontakt Telefon is clearly the phone.",
        '{"mappings": [{"source_field": "Kontakt Telefon", "canonical_field": "phone", "confidence": 7}]}',
        '{"mappings": "phone"}',
        "",
    ],
)
def test_a_garbage_llm_answer_falls_back_to_the_heuristic_result(fake_llm, in_tenant_a, garbage):
    baseline = map_source(columns=COLUMNS, object_name="contacts", tenant=in_tenant_a, use_llm=False)
    fake_llm.reply(garbage)
    result = map_source(columns=COLUMNS, object_name="contacts", tenant=in_tenant_a)
    assert [(m.canonical_field, m.decision) for m in result.mappings] == [
        (m.canonical_field, m.decision) for m in baseline.mappings
    ]
    assert not result.llm_used
    assert any("heuristics kept" in n for n in result.notes)
    assert llm_usage(in_tenant_a)["calls"] == 1


def test_a_failing_llm_server_falls_back_and_counts_the_error(fake_llm, in_tenant_a):
    fake_llm.fail(500)
    result = map_source(columns=COLUMNS, object_name="contacts", tenant=in_tenant_a)
    assert by_field(result)["Kontakt Telefon"].canonical_field is None
    assert any("LLM unavailable" in n for n in result.notes)
    usage = llm_usage(in_tenant_a)
    assert usage["errors"] == 1


def test_an_answer_outside_the_offered_fields_is_ignored(fake_llm, in_tenant_a):
    fake_llm.reply(answer(("Kontakt Telefon", "email", 0.99), ("Zustaendig", "favourite_colour", 0.99)))
    result = map_source(columns=COLUMNS, object_name="contacts", tenant=in_tenant_a)
    m = by_field(result)
    assert m["Kontakt Telefon"].canonical_field is None
    assert m["Zustaendig"].canonical_field is None
    assert [p.canonical_field for p in result.mappings].count("email") == 1


def test_no_call_is_made_when_every_field_is_decided(fake_llm, in_tenant_a):
    result = map_source(columns=COLUMNS[:3], object_name="contacts", tenant=in_tenant_a)
    assert fake_llm.requests == []
    assert "LLM not needed: every column is decided" in result.notes


def test_llm_agreement_raises_a_review_proposal_and_disagreement_lowers_it(fake_llm, in_tenant_a):
    columns = COLUMNS[:3] + [{"name": "reach_me_at", "type": "string", "samples": ["a@x.io", "b@y.io", "c@z.io"]}]
    columns[2] = {"name": "notes", "type": "string", "samples": ["met at a fair", "likes golf"]}
    base = by_field(map_source(columns=columns, object_name="contacts", tenant=in_tenant_a, use_llm=False))
    assert base["reach_me_at"].decision == "review" and base["reach_me_at"].canonical_field == "email"
    fake_llm.reply(answer(("reach_me_at", "email", 0.95)))
    agreed = by_field(map_source(columns=columns, object_name="contacts", tenant=in_tenant_a))["reach_me_at"]
    assert agreed.canonical_field == "email" and agreed.confidence > base["reach_me_at"].confidence
    assert agreed.method == "llm"
    fake_llm.reply(answer(("reach_me_at", None, 0.9)))
    doubted = by_field(map_source(columns=columns, object_name="contacts", tenant=in_tenant_a))["reach_me_at"]
    assert doubted.confidence < base["reach_me_at"].confidence


def test_the_llm_is_not_called_without_a_tenant_to_charge(fake_llm):
    result = map_source(columns=COLUMNS, object_name="contacts", use_memory=False)
    assert fake_llm.requests == []
    assert "LLM skipped: no tenant to charge" in result.notes


def test_a_server_without_json_mode_is_asked_again_without_it(fake_llm, tenant_a):
    fake_llm.fail(400)
    fake_llm.reply('{"ok": true}')
    reply = get_llm_client().chat([{"role": "user", "content": "hi"}], tenant=tenant_a, purpose="test", json_mode=True)
    assert reply.text == '{"ok": true}' and reply.prompt_tokens == 120
    assert "response_format" in fake_llm.requests[0] and "response_format" not in fake_llm.requests[1]
    assert llm_usage(tenant_a)["by_purpose"]["test"]["calls"] == 1


def test_a_call_must_be_charged_to_a_tenant(fake_llm):
    with pytest.raises(LLMError):
        get_llm_client().chat([{"role": "user", "content": "hi"}], tenant=None, purpose="test")


def test_the_answer_parser_accepts_fenced_json_and_refuses_anything_else():
    fenced = "Here you go:\n```json\n" + answer(("a", "phone", 0.5)) + "\n```"
    assert parse_answer(fenced).mappings[0].canonical_field == "phone"
    assert parse_answer(answer(("a", None, 1.0))).mappings[0].canonical_field is None
    assert parse_answer("no json here") is None
    assert parse_answer('{"mappings": [{"source_field": "a", "confidence": -1}]}') is None
