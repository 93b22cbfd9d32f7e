"""The value engine on forms never in the dev set (issue 16, benchmarks/cases/values_holdout): currency
symbols and plural names, country names in other scripts, subdivision names in other languages,
other providers' region catalogs, zones and region keys, Microsoft's service list, a fraction in a
percent column, labels joining two values. Each class is checked for the right answer and for
being a review where it is not sure."""

from __future__ import annotations

import pytest

from aam.values.engine import map_column
from aam.values.evidence import codes, focus, regions
from aam.values.normalize import compact, is_placeholder
from aam.values.types import AUTO, REVIEW, ColumnValues
from benchmarks.values import REPO, evaluate_dir

HOLDOUT = REPO / "benchmarks" / "cases" / "values_holdout"


def col(entity, field, values, source="csv"):
    return ColumnValues(source, "o", entity, field, "c", values=tuple((v, 1) for v in values))


def decided(result):
    return {d.key: d for d in result.decisions}


@pytest.mark.parametrize(
    "text,code,sure",
    [
        ("€", "EUR", True),
        ("JP¥", "JPY", True),
        ("zł", "PLN", True),
        ("R$", "BRL", True),
        ("yen", "JPY", True),
        ("Swiss francs", "CHF", True),
        ("euros", "EUR", True),
        ("RMB", "CNY", True),
        ("$", "USD", False),  # US, Canadian, Australian ... dollar
        ("¥", "JPY", False),  # yen in English, yuan in Chinese
        ("pounds", "GBP", False),  # sterling, Egyptian, Lebanese ... pound
        ("dollars", "USD", False),
    ],
)
def test_currency_symbols_and_names(text, code, sure):
    c = codes.currency(text)
    assert c.canonical == code
    assert (c.confidence >= 0.85) is sure


def test_a_currency_symbol_is_a_value_not_a_placeholder():
    assert not is_placeholder("€") and not is_placeholder("$") and not is_placeholder("£")
    assert is_placeholder("-") and is_placeholder("?") and is_placeholder("  ")
    result = decided(map_column(col("opportunity", "currency", ["€", "£", "", "$"])))
    assert result["€"].canonical == "EUR" and result["€"].decision == AUTO
    assert result["$"].decision == REVIEW
    assert result[""].canonical is None


@pytest.mark.parametrize(
    "text,code", [("日本", "JP"), ("德国", "DE"), ("アメリカ合衆国", "US"), ("Германия", "DE"), ("英国", "GB")]
)
def test_country_names_in_other_scripts(text, code):
    assert not is_placeholder(text)
    assert compact(text)  # keyed by its own letters
    c = codes.country(text)
    assert c.canonical == code and c.confidence >= 0.95


def test_compact_keys_of_latin_text_are_unchanged():
    assert compact("U.S.") == "us" and compact("Best Case") == "bestcase" and compact("São Paulo") == "saopaulo"


def test_subdivision_names_in_other_languages():
    got = codes.subdivisions(["Bavaria", "Bayern", "Hesse", "Berlin", "Baden-Württemberg"])
    assert got["Bavaria"].canonical == "DE-BY" and got["Bavaria"].confidence >= 0.85
    assert got["Hesse"].canonical == "DE-HE"


@pytest.mark.parametrize(
    "text,source,code",
    [
        ("China (Hangzhou)", "alibaba", "cn-hangzhou"),
        ("cn-hangzhou", "alibaba", "cn-hangzhou"),
        ("UK (London)", "alibaba", "eu-west-1"),
        ("Dallas", "ibm", "us-south"),
        ("Frankfurt", "ibm", "eu-de"),
        ("eu-gb", "ibm", "eu-gb"),
        ("IAD", "oci", "us-ashburn-1"),
        ("us-central1-a", "gcp", "us-central1"),
        ("us-east-1a", "aws", "us-east-1"),
    ],
)
def test_regions_of_more_providers_keys_and_zones(text, source, code):
    c = regions.region(text, source=source)
    assert c.canonical == code and c.confidence >= 0.85


def test_another_providers_region_is_only_a_review():
    assert regions.region("us-south1", source="ibm").confidence < 0.85  # GCP's code in an IBM column
    assert regions.region("China (Beijing)", source="ibm").confidence < 0.85
    assert regions.region("IAD", source="aws") is None  # an OCI key means nothing in an AWS column


@pytest.mark.parametrize("text", ["us", "europe", "eu", "global"])
def test_multi_regions_name_no_single_region(text):
    c = regions.region(text, source="gcp")
    assert c.canonical is None and c.confidence >= 0.85


def test_azure_service_names_follow_microsofts_list():
    assert focus.service_category("Azure Data Factory v2", {"Integration", "Analytics"}, source="azure").canonical == (
        "Integration"
    )
    result = decided(
        map_column(col("cost", "service_category", ["Azure App Service", "Key Vault", "Azure Bastion"], source="azure"))
    )
    assert result["Azure App Service"].canonical == "Web" and result["Azure App Service"].decision == AUTO
    assert result["Key Vault"].canonical == "Security"
    assert result["Azure Bastion"].canonical == "Networking"


def test_a_fraction_among_percentages_is_a_review():
    result = decided(map_column(col("opportunity", "probability", ["75%", "90", "0.75", "25 %"])))
    assert result["75%"].canonical == pytest.approx(0.75) and result["75%"].decision == AUTO
    assert result["90"].canonical == pytest.approx(0.9)
    assert result["0.75"].canonical == pytest.approx(0.75) and result["0.75"].decision == REVIEW


def test_labels_joining_two_values_are_reviews():
    result = decided(
        map_column(col("account", "industry", ["Construction & Real Estate", "Media & Entertainment", "Technology"]))
    )
    assert result["Construction & Real Estate"].canonical == "construction"
    assert result["Construction & Real Estate"].decision == REVIEW
    assert result["Media & Entertainment"].canonical == "media"
    assert result["Media & Entertainment"].decision == REVIEW
    assert result["Technology"].decision == AUTO


def test_direct_mail_is_advertising_not_direct_traffic():
    result = decided(map_column(col("contact", "lead_source", ["Direct Mail", "Direct traffic"])))
    assert result["Direct Mail"].canonical == "advertising"
    assert result["Direct traffic"].canonical == "direct"


def test_holdout_cases_exist_and_auto_stays_precise():
    score = evaluate_dir(HOLDOUT)
    assert len(score.cases) >= 12
    assert score.auto_precision >= 0.98
    assert score.accuracy >= 0.9
