"""Each evidence source of the value engine on its own."""

from __future__ import annotations

import pytest

from aam.ontology import get_ontology
from aam.values.evidence import codes, focus, metadata, probability, regions
from aam.values.evidence.lexical import lexical_match, lexicon_for
from aam.values.evidence.memory import InMemoryValueMemory, ValueMemory, from_memory
from aam.values.normalize import is_placeholder, tokens


def lex(key):
    vs = get_ontology().value_set(*key.split("."))
    return lexicon_for(vs.key, tuple(vs.values))


def test_tokens_split_camel_snake_and_punctuation():
    assert tokens("SavingsPlanCoveredUsage") == ("saving", "plan", "covered", "usage")
    assert tokens("CLOSED_WON") == tokens("Closed Won") == ("closed", "won")
    assert tokens("São\x00Paulo") == ("sao", "paulo")


@pytest.mark.parametrize("raw", ["", "   ", "N/A", "n/a", "-", "none", "NULL", "unknown", None])
def test_placeholders(raw):
    assert is_placeholder(raw)


@pytest.mark.parametrize("raw", ["Other", "0", "NA Region", "Nonprofit"])
def test_not_placeholders(raw):
    assert not is_placeholder(raw)


def test_options_give_labels_and_stages_give_flags():
    labels, stages = metadata.parse(
        {
            "options": [{"value": 9, "label": "Consulting"}, {"value": {"x": 1}, "label": "bad"}],
            "stages": [
                {"value": "a", "label": "Discovery", "probability": 10, "is_closed": False},
                {"value": "b", "label": "Won it", "is_closed": True, "is_won": True},
                {"value": "c", "label": "Gone", "is_closed": "true", "is_won": False},
            ],
        }
    )
    # four codes with their labels, and each label as a key of its own (drivers that give the label)
    assert labels["9"] == "Consulting" and len(labels) == 8 and labels["Consulting"] == "Consulting"
    assert stages["a"].probability == pytest.approx(0.1)
    assert metadata.status_from_stage(stages["a"]).canonical == "open"
    assert metadata.status_from_stage(stages["b"]).canonical == "won"
    assert metadata.status_from_stage(stages["c"]).canonical == "lost"
    assert metadata.parse("not a dict") == ({}, {})


def test_a_label_handed_over_in_place_of_its_code_finds_its_option_and_stage():
    """HubSpot's and Dynamics' APIs give formatted values ("Closed Won" for closedwon, "Won" for 1)."""
    labels, stages = metadata.parse({"stages": [
        {"value": "qualifiedtobuy", "label": "Qualified To Buy", "is_closed": False, "probability": 0.4},
        {"value": "closedwon", "label": "Closed Won", "is_closed": True, "is_won": True},
        {"value": "closedlost", "label": "closedwon", "is_closed": True, "is_won": False},  # a label that is a code
    ]})
    assert stages["Closed Won"].is_won is True and stages["Qualified To Buy"].is_closed is False
    assert stages["closedwon"].is_won is True  # the code keeps its own stage, not the other's label
    assert labels["Qualified To Buy"] == "Qualified To Buy"
    options, _ = metadata.parse({"options": [{"value": 1, "label": "Won"}, {"value": 2, "label": "Lost"}]})
    assert options == {"1": "Won", "2": "Lost", "Won": "Won", "Lost": "Lost"}
    # a label two options share (two pipelines' "Closed Won") is no key: it says nothing for sure
    _, shared = metadata.parse({"stages": [
        {"value": "closedwon", "label": "Closed Won", "is_closed": True, "is_won": True},
        {"value": "9876", "label": "Closed Won", "is_closed": True, "is_won": False},
    ]})
    assert "Closed Won" not in shared and shared["9876"].is_won is False


def test_open_stage_category_from_words_and_funnel_position():
    _, stages = metadata.parse(
        {
            "stages": [
                {"value": "s1", "label": "Lead In", "is_closed": False},
                {"value": "s2", "label": "Step two", "is_closed": False},
                {"value": "s3", "label": "Step three", "is_closed": False},
                {"value": "s4", "label": "Negotiations Started", "is_closed": False},
                {"value": "w", "label": "Won", "is_closed": True, "is_won": True},
            ]
        }
    )
    sc = lex("opportunity.stage_category")
    got = {k: metadata.stage_category_from_stage(s, lexical_match(s.label, sc)) for k, s in stages.items()}
    assert got["s1"].canonical == "qualify"
    assert got["s4"].canonical == "negotiate"
    assert got["s2"].canonical == "develop"  # by position only: second of four open stages
    assert got["s2"].confidence < got["s4"].confidence
    assert got["w"].canonical == "won"


def test_memory_protocol_and_in_memory_implementation():
    m = InMemoryValueMemory()
    assert isinstance(m, ValueMemory)
    m.remember("hubspot", "account", "industry", "BAKERY_GOODS", "food_beverage", 1.0)
    c = from_memory(m, source="hubspot", entity="account", field="industry", key="BAKERY_GOODS", allowed=lambda v: True)
    assert c.canonical == "food_beverage" and c.evidence == "memory" and c.confidence == 0.99
    assert (
        from_memory(m, source="zoho", entity="account", field="industry", key="BAKERY_GOODS", allowed=lambda v: True)
        is None
    )
    bad = from_memory(
        m, source="hubspot", entity="account", field="industry", key="BAKERY_GOODS", allowed=lambda v: False
    )
    assert bad is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Deutschland", "DE"),
        ("Allemagne", "DE"),
        ("Alemania", "DE"),
        ("U.S.", "US"),
        ("UK", "GB"),
        ("USA", "US"),
        ("Royaume-Uni", "GB"),
        ("South Korea", "KR"),
        ("The Netherlands", "NL"),
        ("Espagne", "ES"),
    ],
)
def test_country_names_in_many_languages(text, code):
    c = codes.country(text)
    assert c.canonical == code and c.confidence >= 0.95


def test_country_typo_is_found_but_not_certain():
    c = codes.country("Germnay")
    assert c.canonical == "DE" and c.confidence < 0.85


def test_currency_codes_names_and_symbols():
    assert codes.currency("usd").canonical == "USD"
    assert codes.currency("Euro").canonical == "EUR"
    assert codes.currency("€").canonical == "EUR"
    assert codes.currency("$").confidence < 0.85  # dollar of which country?
    assert codes.currency("XYZQ") is None


def test_an_iso_currency_code_is_found_without_loading_the_symbol_index():
    """The symbol index (CLDR data of 40 locales) costs a fresh process about 0.3 s: a code does not need it,
    and gets the same answer as when the index is there; a symbol spelled in three letters still takes it."""
    codes.symbol_index.cache_clear()
    cold = codes.currency(" U S D ")
    assert codes.symbol_index.cache_info().currsize == 0
    codes.symbol_index()
    assert cold == codes.currency(" U S D ") == codes.currency("USD")
    assert (cold.canonical, cold.confidence, cold.note) == ("USD", codes.CODE, "ISO 4217")
    assert codes.currency("CHF").note == "currency symbol"  # CHF is listed as a symbol: as before


def test_subdivisions_read_in_the_columns_country():
    got = codes.subdivisions(["California", "Texas", "New York", "CA", "WA", "ON", "Ontario"])
    assert got["CA"].canonical == "US-CA" and got["CA"].confidence >= 0.85
    assert got["WA"].canonical == "US-WA"  # not AU-WA: the column is American
    assert got["ON"].canonical == "CA-ON"


def test_regions_from_the_provider_catalogs():
    assert regions.region("US East (N. Virginia)").canonical == "us-east-1"
    assert regions.region("EU (Frankfurt)").canonical == "eu-central-1"
    assert regions.region("eastus").canonical == "eastus"
    assert regions.region("West Europe").canonical == "westeurope"
    assert regions.region("us-central1").canonical == "us-central1"
    g = regions.region("Global")
    assert g.canonical is None and g.confidence >= 0.85
    assert regions.region("Frankfurt", source="aws").confidence < 0.85  # GCP's name, AWS source


def test_focus_crosswalk_and_name_links():
    allowed = set(get_ontology().value_set("cost", "service_category").values)
    assert focus.service_category("AmazonEC2", allowed).canonical == "Compute"
    assert focus.service_category("Amazon Simple Notification Service", allowed).canonical == "Integration"
    assert focus.service_category("microsoft.storage", allowed).canonical == "Storage"
    assert focus.service_category("Totally Unknown Thing", allowed) is None


@pytest.mark.parametrize(
    ("key", "text", "want"),
    [
        ("account.industry", "Software & IT services", "technology"),
        ("account.industry", "COMPUTER_GAMES", "entertainment"),
        ("contact.lead_source", "Trade Show", "event"),
        ("cost.charge_category", "SavingsPlanRecurringFee", "Purchase"),
        ("cloud_resource.status", "VM deallocated", "stopped"),
        ("opportunity.opportunity_type", "Existing Customer - Upgrade", "existing_business"),
    ],
)
def test_lexical_names(key, text, want):
    c = lexical_match(text, lex(key))
    assert c.canonical == want and c.confidence >= 0.85


def test_lexical_conflict_is_a_review():
    c = lexical_match("Electronics Manufacturing", lex("account.industry"))
    assert c.canonical in ("electronics", "manufacturing") and c.confidence < 0.85


def test_probability_percent_and_fraction():
    assert probability.column_is_percent(["10", "75", 0])
    assert probability.probability("75", percent_column=True).canonical == 0.75
    assert probability.probability("75%", percent_column=False).canonical == 0.75
    assert probability.probability(0.4, percent_column=False).canonical == 0.4
    assert probability.probability("abc", percent_column=False) is None
    assert probability.probability("250", percent_column=True).canonical is None
