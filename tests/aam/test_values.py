import pytest

from aam.mapping.values import is_salesforce_id, profile_values, sample_kinds, sf_prefix_entity


@pytest.mark.parametrize(
    "value, kind",
    [
        ("jane.doe@example.com", "email"),
        ("(415) 555-0134", "phone"),
        ("+44 20 7946 0958", "phone"),
        ("555-0150", "phone"),
        ("https://www.acme.com/about", "url"),
        ("www.acme.com", "url"),
        ("acme-robotics.io", "domain"),
        ("USD", "currency_code"),
        ("$1,200.50", "money"),
        ("1,200.50 EUR", "money"),
        ("2024-03-05", "date"),
        ("03/05/2024", "date"),
        ("Mar 5, 2024", "date"),
        ("2019-04-04T18:36:06.000+0000", "datetime"),
        ("2024-03-05T10:22:41.377Z", "datetime"),
        ("2024-01-05 10:22:11", "datetime"),
        ("0015500000Xyy06AAB", "sf_id"),
        ("475b158c-541c-e511-80d3-3863bb347ba8", "guid"),
        ("United States", "country"),
        ("U.S.", "country"),
        ("DE", "country"),
        ("CA", "state"),
        ("Illinois", "state"),
        ("94105", "postal_code"),
        ("EC2N 1HN", "postal_code"),
        ("123456789012", "aws_account_id"),
        ("us-east-1", "cloud_region"),
        ("europe-west1", "cloud_region"),
        ("westeurope", "cloud_region"),
        ("us-east-1a", "cloud_az"),
        ("arn:aws:s3:::acme-logs", "arn"),
        ("i-0b22a22eec53b9321", "cloud_resource_id"),
        ("true", "boolean"),
        ("won", "deal_outcome"),
        ('{"env": "prod"}', "json"),
        ("env=prod;team=web", "key_value"),
        ("10.0.1.23", "ip_address"),
        ("+14155550142", "phone"),
        ("~40", "number"),
        ("500+", "number"),
        ("US Dollar", "currency_code"),
        ("British pound", "currency_code"),
        ("AWS_US_WEST_2", "cloud_region"),
        ("azure_eastus2", "cloud_region"),
        ("Needs SOC2 report", "free_text"),
    ],
)
def test_sample_values_are_recognised(value, kind):
    assert kind in sample_kinds(value)


@pytest.mark.parametrize(
    "value, not_kind",
    [
        ("Mr.", "country"),
        ("t3.medium", "domain"),
        ("10.0.1.23", "phone"),
        ("0015500000Xyy06AAC", "sf_id"),
        ("Acme Robotics", "identifier"),
        ("2024-03-05", "phone"),
        ("USD", "country"),
        ("14155550142", "phone"),
        ("Globex", "identifier"),
        ("Acme Robotics Inc.", "free_text"),
        ("Head of Procurement", "free_text"),
        ("nyc3", "cloud_region"),
    ],
)
def test_look_alikes_are_not_confused(value, not_kind):
    assert not_kind not in sample_kinds(value)


def test_salesforce_ids_are_checked_and_their_key_prefix_names_the_object():
    assert is_salesforce_id("0031G00000rfAvuQAE")
    assert not is_salesforce_id("0031G00000rfAvuQAX")  # wrong checksum
    assert is_salesforce_id("0031G00000rfAvu")  # 15 characters
    assert sf_prefix_entity("001") == "account"
    assert sf_prefix_entity("006") == "opportunity"
    profile = profile_values("string", ["0051G00000600MlQAI", "0051G000005Mx8dQAC"])
    assert profile.signature == "sf_id:005"


def test_probabilities_in_both_scales_are_recognised():
    assert profile_values("number", [0.2, 0.9, 1]).share("probability") == 1.0
    assert profile_values("number", [100.0, 0.0, 65.0]).share("probability") == 1.0
    assert profile_values("number", [12500.0, 340000.0]).share("probability") == 0.0


def test_option_set_integers_are_recognised():
    assert profile_values("integer", [1, 100000000, 100000002]).share("option_set") == 1.0
    assert profile_values("integer", [1244495215, 1075671446]).share("option_set") == 0.0


def test_string_columns_get_their_real_type_from_samples():
    assert profile_values("string", ["true", "false", "true"]).effective == "boolean"
    assert profile_values("string", ["48000", "12500"]).effective == "integer"
    assert profile_values("string", ["0.5", "12.25"]).effective == "number"
    assert profile_values("string", ["2024-03-05T10:00:00Z"]).effective == "datetime"
    assert profile_values("string", ["Acme", "Globex"]).effective == "string"


def test_a_hand_kept_date_column_in_mixed_formats_is_a_datetime_column():
    assert profile_values("string", ["2024-03-01", "3/5/24", "05.03.2024", "2024-02-20 16:40"]).effective == "datetime"
    assert profile_values("string", ["03/15/2019", "Jan 2018"]).effective == "string"


def test_the_same_value_in_every_sample_is_constant_only_with_three_or_more_samples():
    assert profile_values("string", ["orga_1", "orga_1", "orga_1"]).constant
    assert not profile_values("string", ["orga_1", "orga_1"]).constant
    assert not profile_values("string", ["lead_1", "lead_2", "lead_1"]).constant


def test_empty_and_odd_samples_do_not_break_profiling():
    profile = profile_values("string", [None, "", "   ", float("nan"), {"a": 1}, "x" * 10_000])
    assert profile.n == 3
    assert profile_values("string", []).n == 0
