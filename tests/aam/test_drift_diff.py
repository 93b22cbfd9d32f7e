"""The schema diff on real-looking drifts: right kind, renames paired, no false alarms."""

from aam.drift import FieldSnapshot as F
from aam.drift import diff_schemas, schema_fingerprint, type_change_direction
from aam.drift.diff import name_similarity

OPP = [
    F.of("Id", "string", ["0066g00000AbCdEAA1", "0066g00000AbCdFAA1", "0066g00000AbCdGAA1"]),
    F.of("Name", "string", ["Acme renewal", "Globex expansion", "Initech pilot"]),
    F.of("StageName", "string", ["Prospecting", "Closed Won", "Negotiation/Review"]),
    F.of("Amount", "number", [12000.0, 55000.5, 7300.0]),
    F.of("CloseDate", "date", ["2026-03-31", "2026-05-15", "2026-01-10"]),
    F.of("Probability", "number", [10, 100, 80]),
]


def _with(fields, **changes):
    """Copy of fields with renames (old=new), drops (old=None) or replacements (old=F)."""
    out = []
    for f in fields:
        if f.name in changes:
            repl = changes[f.name]
            if repl is None:
                continue
            out.append(F(name=repl, type=f.type, samples=f.samples) if isinstance(repl, str) else repl)
        else:
            out.append(f)
    return out


def kinds(changes):
    return sorted((c.kind, c.field, c.new_field) for c in changes)


def test_unchanged_schema_reports_nothing():
    assert diff_schemas(OPP, list(OPP)) == []


def test_reordered_columns_report_nothing_and_keep_the_fingerprint():
    assert diff_schemas(OPP, list(reversed(OPP))) == []
    assert schema_fingerprint(OPP) == schema_fingerprint(list(reversed(OPP)))


def test_same_schema_from_a_second_page_reports_nothing():
    page2 = [
        F.of("Id", "string", ["0066g00000ZzZzZAA1", "0066g00000YyYyYAA1", "0066g00000XxXxXAA1"]),
        F.of("Name", "string", ["Umbrella deal", "Hooli upsell", "Vandelay import"]),
        F.of("StageName", "string", ["Qualification", "Closed Lost", "Prospecting"]),
        F.of("Amount", "number", [900.0, 15000.0, 4000.0]),
        F.of("CloseDate", "date", ["2026-07-01", "2026-08-12", "2026-02-02"]),
        F.of("Probability", "number", [20, 0, 10]),
    ]
    assert diff_schemas(OPP, page2) == []


def test_fingerprint_changes_with_names_and_types_but_not_samples():
    assert schema_fingerprint(OPP) != schema_fingerprint(_with(OPP, Amount="Amount__c"))
    retyped = _with(OPP, Amount=F.of("Amount", "string", ["12000", "55000.5"]))
    assert schema_fingerprint(OPP) != schema_fingerprint(retyped)
    resampled = _with(OPP, Amount=F.of("Amount", "number", [1.0, 2.0]))
    assert schema_fingerprint(OPP) == schema_fingerprint(resampled)


def test_salesforce_custom_field_rename_is_one_rename_with_high_confidence():
    changes = diff_schemas(OPP, _with(OPP, Amount="Amount__c"))
    assert kinds(changes) == [("renamed", "Amount", "Amount__c")]
    assert changes[0].confidence >= 0.85


def test_hubspot_property_rename_is_paired_by_values():
    old = [
        F.of("hs_object_id", "string", ["101", "102", "103"]),
        F.of("dealname", "string", ["Acme renewal", "Globex expansion", "Initech pilot"]),
        F.of("amount", "string", ["12000", "55000", "7300"]),
    ]
    new = [old[0], F.of("deal_name", "string", ["Acme renewal", "Globex expansion", "Initech pilot"]), old[2]]
    changes = diff_schemas(old, new)
    assert kinds(changes) == [("renamed", "dealname", "deal_name")]
    assert changes[0].confidence >= 0.85


def test_rename_with_new_values_and_a_similar_name_is_paired_but_below_auto_confidence():
    page2 = F.of("Amount__c", "number", [1.0, 2.0, 3.0])
    changes = diff_schemas(OPP, _with(OPP, Amount=page2))
    assert kinds(changes) == [("renamed", "Amount", "Amount__c")]
    assert changes[0].confidence < 0.85  # a name alone is not enough to apply without a human


def test_dropped_column_is_removed():
    assert kinds(diff_schemas(OPP, _with(OPP, Probability=None))) == [("removed", "Probability", None)]


def test_new_column_is_added():
    new = OPP + [F.of("ForecastCategoryName", "string", ["Pipeline", "Closed", "Commit"])]
    assert kinds(diff_schemas(OPP, new)) == [("added", "ForecastCategoryName", None)]


def test_unrelated_drop_and_add_are_not_paired_as_a_rename():
    new = _with(OPP, Probability=None) + [F.of("NextStep", "string", ["Send proposal", "Call CFO", "Demo"])]
    assert kinds(diff_schemas(OPP, new)) == [("added", "NextStep", None), ("removed", "Probability", None)]


def test_string_to_number_is_a_narrowing_retype_and_number_to_string_is_widening():
    as_string = _with(OPP, Amount=F.of("Amount", "string", ["12000.0", "55000.5", "7300.0"]))
    change = diff_schemas(OPP, as_string)[0]
    assert (change.kind, change.direction) == ("retyped", "widening")
    back = diff_schemas(as_string, OPP)[0]
    assert (back.kind, back.direction) == ("retyped", "narrowing")


def test_two_columns_that_swapped_names_are_two_renames_marked_as_a_swap():
    old = [
        F.of("Id", "string", ["1", "2", "3"], keyed={"1": "1", "2": "2", "3": "3"}),
        F.of("FirstName", "string", ["Ada", "Grace", "Linus"], keyed={"1": "Ada", "2": "Grace", "3": "Linus"}),
        F.of(
            "LastName",
            "string",
            ["Lovelace", "Hopper", "Torvalds"],
            keyed={"1": "Lovelace", "2": "Hopper", "3": "Torvalds"},
        ),
    ]
    new = [
        old[0],
        F.of(
            "FirstName",
            "string",
            ["Lovelace", "Hopper", "Torvalds"],
            keyed={"1": "Lovelace", "2": "Hopper", "3": "Torvalds"},
        ),
        F.of("LastName", "string", ["Ada", "Grace", "Linus"], keyed={"1": "Ada", "2": "Grace", "3": "Linus"}),
    ]
    changes = diff_schemas(old, new)
    assert kinds(changes) == [("renamed", "FirstName", "LastName"), ("renamed", "LastName", "FirstName")]
    assert all(c.swap and c.confidence >= 0.85 for c in changes)
    assert schema_fingerprint(old) == schema_fingerprint(new)  # invisible to fingerprints alone


def test_keyed_samples_pair_a_rename_even_when_names_differ_completely():
    old = [
        F.of("Id", "string", ["a", "b", "c"]),
        F.of("Rev", "number", [10, 20, 30], keyed={"a": 10, "b": 20, "c": 30}),
    ]
    new = [old[0], F.of("Zq9", "number", [10, 20, 30], keyed={"a": 10, "b": 20, "c": 30})]
    changes = diff_schemas(old, new)
    assert kinds(changes) == [("renamed", "Rev", "Zq9")]
    assert changes[0].evidence["value_method"] == "keyed"


def test_type_change_directions():
    assert type_change_direction("integer", "number") == "widening"
    assert type_change_direction("number", "integer") == "narrowing"
    assert type_change_direction("date", "datetime") == "widening"
    assert type_change_direction("string", "boolean") == "narrowing"


def test_name_similarity_sees_through_vendor_conventions():
    assert name_similarity("Amount", "Amount__c") == 1.0
    assert name_similarity("hs_lastmodifieddate", "lastmodifieddate") == 1.0
    assert name_similarity("closeDate", "close_date") == 1.0
    assert name_similarity("Amount", "Probability") < 0.3


def test_fingerprint_is_the_pipelines_so_snapshots_and_batches_agree():
    from aam.sources import schema_fingerprint as batch_fingerprint

    pairs = [(f.name, f.type) for f in OPP]
    assert schema_fingerprint(OPP) == batch_fingerprint(pairs) == schema_fingerprint(list(reversed(pairs)))


def test_the_same_value_as_text_int_or_float_compares_equal():
    old = [
        F.of("Id", "string", ["1", "2", "3"]),
        F.of("Amount", "number", [12000.0, 55000.5, 7300], keyed={"1": 12000.0, "2": 55000.5, "3": 7300}),
    ]
    new = [
        old[0],
        F.of(
            "Amount__c",
            "string",
            ["12000.00", "55000.50", "7300"],
            keyed={"1": "12000.00", "2": "55000.50", "3": "7300"},
        ),
    ]
    [change] = diff_schemas(old, new)
    assert (change.kind, change.new_field, change.evidence["value_agreement"]) == ("renamed", "Amount__c", 1.0)


def test_flags_that_agree_on_most_records_are_not_paired_as_a_rename():
    keys = [str(i) for i in range(8)]
    closed = ["true", "true", "false", "false", "true", "false", "true", "false"]
    won = ["true", "false", "false", "false", "true", "false", "true", "false"]
    old = [F.of("Id", "string", keys), F.of("IsClosed", "boolean", closed, keyed=dict(zip(keys, closed, strict=True)))]
    new = [old[0], F.of("IsWon", "boolean", won, keyed=dict(zip(keys, won, strict=True)))]
    assert kinds(diff_schemas(old, new)) == [("added", "IsWon", None), ("removed", "IsClosed", None)]


def test_values_alone_pair_a_rename_but_never_at_auto_confidence():
    keys = ["a", "b", "c", "d"]
    old = [
        F.of("Id", "string", keys),
        F.of(
            "CreatedDate",
            "datetime",
            [f"2026-01-0{i}T10:00:00Z" for i in range(1, 5)],
            keyed={k: f"2026-01-0{i}T10:00:00Z" for i, k in enumerate(keys, 1)},
        ),
    ]
    new = [
        old[0],
        F.of(
            "SystemModstamp",
            "datetime",
            [f"2026-01-0{i}T10:00:00Z" for i in range(1, 5)],
            keyed={k: f"2026-01-0{i}T10:00:00Z" for i, k in enumerate(keys, 1)},
        ),
    ]
    [change] = diff_schemas(old, new)
    assert change.kind == "renamed" and change.confidence < 0.85


def test_a_column_without_values_gets_a_type_when_values_arrive_without_drift_for_inferred_types():
    old = [F.of("Id", "string", ["1", "2"]), F.of("Discount", "string", [])]
    new = [old[0], F.of("Discount", "number", ["0.1", "0.25"])]
    assert diff_schemas(old, new, inferred_types=True) == []
    assert kinds(diff_schemas(old, new)) == [("retyped", "Discount", None)]  # declared types: a real change


def test_whole_numbers_on_another_page_are_no_retype_for_inferred_types():
    old = [F.of("Probability", "number", ["0.5", "75.5", "10"])]
    new = [F.of("Probability", "integer", ["10", "20", "90"])]
    assert diff_schemas(old, new, inferred_types=True) == []
    widened = [F.of("Probability", "string", ["High", "Low", "Medium"])]
    assert kinds(diff_schemas(old, widened, inferred_types=True)) == [("retyped", "Probability", None)]


def test_a_swap_seen_only_in_overlapping_samples_needs_a_human():
    old = [
        F.of("FirstName", "string", ["Ada", "Grace", "Linus"]),
        F.of("LastName", "string", ["Lovelace", "Hopper", "Torvalds"]),
    ]
    new = [
        F.of("FirstName", "string", ["Lovelace", "Hopper", "Torvalds"]),
        F.of("LastName", "string", ["Ada", "Grace", "Linus"]),
    ]
    changes = diff_schemas(old, new)
    assert len(changes) == 2 and all(c.swap for c in changes)
    assert all(c.confidence < 0.85 for c in changes)


def test_snapshot_fields_survive_a_json_round_trip():
    f = F.of("Amount", "number", [1.5, "2"], keyed={"x": 1.5})
    assert F.from_json(f.as_json()) == f


def test_path_names_in_another_convention_are_the_same_name():
    assert name_similarity("lineItem/UnblendedCost", "line_item_unblended_cost") == 1.0
    assert name_similarity("configuration.state.name", "configuration_state_name") == 1.0
    assert name_similarity("address.city", "billing_city") < 1.0
