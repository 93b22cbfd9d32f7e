"""Canonical events: type coercion (vectorized and per value agree), the pydantic contract, batch ids."""

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

import pyarrow as pa
import pytest
from pydantic import ValidationError

from aam.ingest.batches import BatchHeader, BatchMessage, events_from_batch, split_batches
from aam.ingest.coerce import CoercionError, coerce_column, coerce_value
from aam.ingest.events import CanonicalEvent, EventMetadata
from aam.ingest.kinds import Kind
from aam.ingest.normalize import build_plan, normalize_page, records_to_table
from tests.pipeline.support import ONTOLOGY, SF_OPPORTUNITY, opportunity_records

CASES = [
    (
        Kind.BOOLEAN,
        ["true", "1", "Yes", "Y", "false", "0", "no", None, ""],
        [True, True, True, True, False, False, False, None, None],
    ),
    (
        Kind.DECIMAL,
        ["1234.5", "$1,234.50", "(12.5)", "45%", "1e3"],
        [Decimal("1234.5"), Decimal("1234.5"), Decimal("-12.5"), Decimal("45"), Decimal("1000")],
    ),
    (Kind.INTEGER, ["12", "12.0", " 7 "], [12, 12, 7]),
    (Kind.DATE, ["2024-01-31", "01/31/2024", "31.01.2024"], [date(2024, 1, 31)] * 3),
    (
        Kind.DATETIME,
        ["2023-01-01T05:00:00.000+0200", "2023-01-01T03:00:00Z", "2023-01-01 03:00:00"],
        [datetime(2023, 1, 1, 3, tzinfo=UTC)] * 3,
    ),
]


@pytest.mark.parametrize("kind,values,expected", CASES, ids=[c[0].value for c in CASES])
def test_vendor_formats_are_coerced_to_canonical_types_by_column_and_by_value(kind, values, expected):
    column = coerce_column(pa.array(values, pa.string()), kind, field_name="f")
    assert column.errors == {}
    assert column.values.to_pylist() == expected
    assert [coerce_value(kind, v) for v in values] == expected


def test_datetimes_come_out_in_utc_whatever_the_source_offset():
    value = coerce_column(pa.array(["2024-06-30T23:30:00-05:00"]), Kind.DATETIME, field_name="f").values[0].as_py()
    assert value == datetime(2024, 7, 1, 4, 30, tzinfo=UTC)


def test_values_that_cannot_be_coerced_get_a_reason_per_row_and_never_a_guess():
    column = coerce_column(pa.array(["12", "twelve", None, "1.5.6"]), Kind.DECIMAL, field_name="amount")
    assert column.values.to_pylist() == [Decimal("12"), None, None, None]
    assert set(column.errors) == {1, 3}
    assert "amount" in column.errors[1] and "'twelve' is not a number" in column.errors[1]
    with pytest.raises(CoercionError):
        coerce_value(Kind.BOOLEAN, "maybe")


def test_typed_source_values_are_coerced_too():
    assert coerce_column(pa.array([1.1, 2.0]), Kind.DECIMAL, field_name="f").values.to_pylist() == [
        Decimal("1.1"),
        Decimal("2"),
    ]
    epoch = coerce_column(pa.array([1700000000, 1700000000123]), Kind.DATETIME, field_name="f").values.to_pylist()
    assert epoch[0] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    mixed = records_to_table([{"v": 1}, {"v": "2"}, {"v": {"a": 1}}])
    assert mixed["v"].to_pylist() == ["1", "2", '{"a": 1}']


def _plan(mapping=SF_OPPORTUNITY):
    return build_plan(
        entity="opportunity",
        source_object="Opportunity",
        mapping_fields=mapping,
        entity_fields=ONTOLOGY["opportunity"],
        id_fields=("Id",),
        fingerprint="fp",
        mapping_version=3,
        confidences={"Amount": 0.97},
    )


def test_a_page_is_normalized_and_bad_records_are_rejected_with_reason_and_position():
    records = opportunity_records(5)
    records[2]["Amount"] = "lots"
    records[4]["Id"] = ""
    page = normalize_page(records_to_table(records), _plan(), first_position=11)
    assert page.read == 5 and page.table.num_rows == 3
    assert [r.position for r in page.rejected] == [13, 15]
    assert "amount" in page.rejected[0].reason and page.rejected[0].raw["Amount"] == "lots"
    assert "no source id" in page.rejected[1].reason
    assert page.table.schema.field("amount").type == pa.decimal128(38, 10)
    assert page.table["updated_at"][0].as_py() == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_unmapped_source_fields_travel_as_extras_and_quality_problems_as_flags():
    records = opportunity_records(2)
    records[0]["Custom__c"] = "keep me"
    records[1]["Name"] = None
    records[1]["Amount"] = "-5"
    page = normalize_page(records_to_table(records), _plan())
    assert page.table["_extras"].to_pylist() == ['{"Custom__c": "keep me"}', None]
    assert page.table["_dq"].to_pylist() == [None, "missing:name,negative:amount"]


def _messages(records, generation=0, chunk=2):
    page = normalize_page(records_to_table(records), _plan())
    header = BatchHeader(
        tenant_id=str(uuid4()),
        connection_id=1,
        source_object="Opportunity",
        entity="opportunity",
        schema_fingerprint="fp",
        mapping_version=3,
        generation=generation,
        confidences={"amount": 0.97},
    )
    return list(split_batches(page.table, header, chunk))


def test_batches_hold_at_most_the_chunk_size_and_round_trip_through_stream_fields():
    messages = _messages(opportunity_records(5), chunk=2)
    assert [m.count for m in messages] == [2, 2, 1]
    again = BatchMessage.from_fields(
        {k.encode(): (v if isinstance(v, bytes) else v.encode()) for k, v in messages[0].to_fields().items()}
    )
    assert again.batch_id == messages[0].batch_id and again.table().equals(messages[0].table())


def test_batch_ids_are_deterministic_for_a_replay_and_change_with_content_or_a_new_sync():
    from aam.ingest.batches import batch_id_for

    a = _messages(opportunity_records(4))
    h = a[0].header
    replay = list(split_batches(normalize_page(records_to_table(opportunity_records(4)), _plan()).table, h, 2))
    assert [m.batch_id for m in replay] == [m.batch_id for m in a]
    changed = _messages(opportunity_records(4, amount_of=lambda i: "1.00"))
    assert batch_id_for(h, changed[0].payload) != a[0].batch_id
    from dataclasses import replace

    assert batch_id_for(replace(h, generation=1), a[0].payload) != a[0].batch_id


def test_batches_turn_back_into_valid_canonical_events():
    events = events_from_batch(_messages(opportunity_records(2))[0])
    assert len(events) == 2
    event = events[0]
    assert event.source_id == "006000000000000000" and event.entity == "opportunity"
    assert event.data["amount"] == Decimal("0.5") and event.data["is_won"] is False
    assert event.metadata.mapping_version == 3 and event.metadata.confidences == {"amount": 0.97}


def test_the_event_contract_refuses_floats_naive_datetimes_and_bad_confidences():
    base = dict(
        event_id="e",
        tenant_id=uuid4(),
        connection_id=1,
        source_object="o",
        source_id="1",
        entity="account",
        metadata=EventMetadata(schema_fingerprint="fp", mapping_version=1),
    )
    CanonicalEvent(data={"amount": Decimal("1.5"), "at": datetime(2024, 1, 1, tzinfo=UTC)}, **base)
    with pytest.raises(ValidationError):
        CanonicalEvent(data={"amount": 1.5}, **base)
    with pytest.raises(ValidationError):
        CanonicalEvent(data={"at": datetime(2024, 1, 1)}, **base)
    with pytest.raises(ValidationError):
        EventMetadata(schema_fingerprint="fp", mapping_version=1, confidences={"x": 1.5})


def test_text_loses_nul_bytes_that_postgresql_cannot_store():
    column = coerce_column(pa.array(["a\x00b", "ok"]), Kind.STRING, field_name="f")
    assert column.values.to_pylist() == ["ab", "ok"]
    assert coerce_value(Kind.STRING, "x\x00") == "x"
