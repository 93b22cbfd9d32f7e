"""A rename's confidence never exceeds its evidence (issue 18, item 1).

The issue's case: a CSV export without an id column renamed "Amount (USD)" to "Deal Value"; the pair
was found from overlapping sample values (name similarity 0.00), the mapping engine read "Deal Value"
as an amount at 0.99, and the repair was applied at 0.99. The engine says what the new column is,
not that the old one became it: such a rename keeps its pairing's confidence and goes to review.
"""

from __future__ import annotations

import pytest

from aam.drift import FieldSnapshot as F
from aam.drift import diff_schemas
from aam.drift.diff import RENAME_MIN_SCORE, rename_ceiling, rename_score
from aam.drift.services import drift_check
from aam.models import DriftEvent
from aam.selectors import mapping_active
from aam.services import mapping_ensure
from connectors.base import SourceField, SourceObject
from connectors.models import Connection

AMOUNTS = ["12000", "5400.5", "880", "23000", "1500", "7000", "990", "4300"]
NAMES = ["Acme renewal", "Globex expansion", "Initech pilot", "Hooli upsell", "Umbrella", "Stark", "Wayne", "Tyrell"]
DATES = ["2026-03-31", "2026-05-15", "2026-01-10", "2026-07-01", "2026-02-02", "2026-02-03", "2026-02-04",
         "2026-02-05"]


# --- the ceiling itself -----------------------------------------------------------------------------


def test_a_rename_whose_names_share_nothing_keeps_the_confidence_of_its_sample_overlap():
    score, evidence = rename_score(F.of("Amount (USD)", "number", AMOUNTS), F.of("Deal Value", "number", AMOUNTS))
    assert evidence["name_similarity"] == 0.0 and evidence["value_method"] == "overlap"
    ceiling, why = rename_ceiling(evidence)
    assert ceiling == pytest.approx(score) and ceiling <= 0.8
    assert "share nothing" in why and "0.00" in why and "keyed" in why


def test_keyed_proof_or_alike_names_leave_a_rename_uncapped():
    keys = {f"k{i}": v for i, v in enumerate(AMOUNTS)}
    _, keyed = rename_score(F.of("Amount (USD)", "number", AMOUNTS, keyed=keys),
                            F.of("Deal Value", "number", AMOUNTS, keyed=keys))
    assert keyed["value_method"] == "keyed" and rename_ceiling(keyed) == (1.0, "")
    _, alike = rename_score(F.of("Amount", "number", AMOUNTS), F.of("Amount__c", "number", []))
    assert alike["name_similarity"] >= 0.3 and rename_ceiling(alike) == (1.0, "")


def test_keyed_values_that_disagree_are_no_proof():
    keys = [f"k{i}" for i in range(8)]
    other = ["1", "2", "3", "4", "5", "7000", "990", "4300"]
    evidence = {"name_similarity": 0.0, "value_method": "keyed", "value_agreement": 3 / 8, "values_compared": 8,
                "distinct_values": 11, "confidence": 0.6}
    ceiling, why = rename_ceiling(evidence)
    assert ceiling == 0.6 and "no values prove the move" in why
    # and such a pair is not even made
    changes = diff_schemas([F.of("Amount (USD)", "number", AMOUNTS, keyed=dict(zip(keys, AMOUNTS, strict=True)))],
                           [F.of("Deal Value", "number", other, keyed=dict(zip(keys, other, strict=True)))])
    assert sorted(c.kind for c in changes) == ["added", "removed"]


def test_a_ceiling_without_value_evidence_says_so_and_never_reaches_auto_apply():
    ceiling, why = rename_ceiling({"name_similarity": 0.1, "value_method": "none", "values_compared": 0,
                                   "confidence": 0.99})
    assert ceiling == 0.8 and "no values prove the move" in why
    assert RENAME_MIN_SCORE <= ceiling < 0.85


# --- through the drift check --------------------------------------------------------------------------


def _deals(amount_column: str, *, keyed: bool) -> SourceObject:
    """A deals export as the CSV driver discovers it; `keyed`: samples keyed by a record key."""
    columns = {"Deal Name": ("string", NAMES), amount_column: ("number", AMOUNTS), "Close Date": ("date", DATES)}
    keys = [f"{n}|{d}" for n, d in zip(NAMES, DATES, strict=True)]
    fields = [
        SourceField(name=name, type=ftype, samples=list(values),
                    keyed_samples=dict(zip(keys, values, strict=True)) if keyed else {})
        for name, (ftype, values) in columns.items()
    ]
    return SourceObject(name="deals", fields=fields, primary_key="Deal Name,Close Date" if keyed else None)


@pytest.fixture
def deals_conn(in_tenant_a):
    return Connection.objects.create(name="Deals export", kind="filesource", drift_policy="auto",
                                     config={"source_system": "pipedrive"})


def _baseline(conn, obj):
    drift_check(connection=conn, source_object=obj)
    mapping = mapping_ensure(connection=conn, source_object=obj)
    assert mapping.fields["Amount (USD)"] == "amount"
    return mapping


def test_the_issue_rename_with_no_name_in_common_goes_to_review_not_applied_at_99(deals_conn):
    _baseline(deals_conn, _deals("Amount (USD)", keyed=False))
    outcome = drift_check(connection=deals_conn, source_object=_deals("Deal Value", keyed=False))
    assert outcome.applied == 0 and outcome.queued == 1
    event = DriftEvent.objects.get(kind="renamed")
    assert (event.field, event.new_field, event.status) == ("Amount (USD)", "Deal Value", "pending")
    assert event.evidence["name_similarity"] == 0.0
    assert event.repair_confidence <= 0.8
    assert "Confidence capped at" in event.explanation and "maps `Deal Value` to opportunity.amount" in (
        event.explanation)
    # the old column keeps feeding amount until a person decides
    active = mapping_active(connection=deals_conn, source_object_name="deals")
    assert active.fields["Amount (USD)"] == "amount" and active.pending == {"Deal Value": "amount"}


def test_the_same_rename_proven_by_the_same_records_under_their_key_is_applied(deals_conn):
    _baseline(deals_conn, _deals("Amount (USD)", keyed=True))
    outcome = drift_check(connection=deals_conn, source_object=_deals("Deal Value", keyed=True))
    assert outcome.applied == 1 and outcome.queued == 0
    event = DriftEvent.objects.get(kind="renamed")
    assert event.status == "applied" and event.repair_confidence >= 0.85
    assert event.evidence["value_method"] == "keyed" and "capped" not in event.explanation
    assert mapping_active(connection=deals_conn, source_object_name="deals").fields["Deal Value"] == "amount"
