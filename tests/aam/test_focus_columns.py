"""FOCUS 1.2 cost columns (docs/adr/0030-finops-focus-commitments.md): the ontology has every column of the
spec, the commitment columns of AWS CUR (Savings Plans, RIs), Azure (reservations) and GCP (CUDs) map onto
them (tests/aam/cases_focus), and their vendor values map onto FOCUS's allowed values."""

from pathlib import Path

import pytest

from aam.ontology import get_ontology
from aam.values.engine import map_column
from aam.values.types import ColumnValues
from benchmarks.mapping import evaluate_dir

CASES = Path(__file__).resolve().parent / "cases_focus"
# FOCUS 1.2 (FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec v1.2, specification/columns): all 57 columns.
FOCUS_12 = (
    "AvailabilityZone BilledCost BillingAccountId BillingAccountName BillingAccountType BillingCurrency "
    "BillingPeriodEnd BillingPeriodStart CapacityReservationId CapacityReservationStatus ChargeCategory ChargeClass "
    "ChargeDescription "
    "ChargeFrequency ChargePeriodEnd ChargePeriodStart CommitmentDiscountCategory CommitmentDiscountId "
    "CommitmentDiscountName CommitmentDiscountQuantity CommitmentDiscountStatus CommitmentDiscountType "
    "CommitmentDiscountUnit ConsumedQuantity ConsumedUnit ContractedCost ContractedUnitPrice EffectiveCost InvoiceId "
    "InvoiceIssuerName ListCost ListUnitPrice PricingCategory PricingCurrency PricingCurrencyContractedUnitPrice "
    "PricingCurrencyEffectiveCost PricingCurrencyListUnitPrice PricingQuantity PricingUnit ProviderName PublisherName "
    "RegionId RegionName ResourceId ResourceName ResourceType ServiceCategory ServiceName ServiceSubcategory SkuId "
    "SkuMeter SkuPriceDetails SkuPriceId SubAccountId SubAccountName SubAccountType Tags"
).split()


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def test_the_cost_entity_has_every_focus_1_2_column():
    fields = set(get_ontology().entity("cost").field_names())
    assert len(FOCUS_12) == 57
    assert {snake(c) for c in FOCUS_12} - fields == set()


def test_focus_allowed_values_are_value_sets():
    sets = get_ontology().value_sets
    assert sets["cost.charge_class"].values == ("Correction",)
    assert sets["cost.charge_frequency"].values == ("One-Time", "Recurring", "Usage-Based")
    assert sets["cost.pricing_category"].values == ("Standard", "Dynamic", "Committed", "Other")
    assert sets["cost.commitment_discount_category"].values == ("Spend", "Usage")
    assert sets["cost.commitment_discount_status"].values == ("Used", "Unused")
    assert sets["cost.capacity_reservation_status"].values == ("Used", "Unused")
    assert sets["cost.pricing_currency"].kind == "iso4217"
    subcategories = sets["cost.service_subcategory"].values
    assert len(subcategories) == 82 and "Virtual Machines" in subcategories and "Other (Other)" in subcategories


def test_commitment_columns_of_cur_azure_and_gcp_map_without_a_wrong_automatic_decision():
    report = evaluate_dir(CASES)
    errors = {c.name: c.errors for c in report.cases}
    assert {c.name: c.entity for c in report.cases} == {
        "aws_cur_commitments.json": "cost", "azure_amortized_reservations.json": "cost", "gcp_billing_cud.json": "cost"}
    assert report._sum("auto_correct") == report._sum("auto"), errors
    assert report.field_accuracy >= 0.98, errors
    # every commitment, pricing and invoice column is right (the only miss allowed is elsewhere)
    focus_fields = {"commitment_discount_id", "commitment_discount_name", "pricing_category", "charge_frequency",
                    "invoice_id", "invoice_issuer_name", "list_unit_price", "effective_cost", "sub_account_name",
                    "billing_account_name"}
    wrong = [e for errs in errors.values() for e in errs if any(f in e for f in focus_fields)]
    assert wrong == []


def values_of(field, raws, source="csv"):
    column = ColumnValues(source=source, object="o", entity="cost", field=field, column="c",
                          values=tuple((v, 1) for v in raws))
    return {d.raw: (d.canonical, d.decision) for d in map_column(column).decisions}


@pytest.mark.parametrize(("field", "raw", "canonical"), [
    # AWS CUR lineItem/LineItemType of Savings Plans and RIs
    ("charge_category", "SavingsPlanCoveredUsage", "Usage"),
    ("charge_category", "SavingsPlanRecurringFee", "Purchase"),
    ("charge_category", "DiscountedUsage", "Usage"),
    ("charge_category", "RIFee", "Purchase"),
    # Azure ChargeType / PricingModel / Frequency
    ("charge_category", "UnusedReservation", "Usage"),
    ("pricing_category", "OnDemand", "Standard"),
    ("pricing_category", "Reservation", "Committed"),
    ("pricing_category", "Spot", "Dynamic"),
    ("pricing_category", "SavingsPlan", "Committed"),
    ("pricing_category", "Reserved", "Committed"),  # AWS pricing/term
    ("charge_frequency", "UsageBased", "Usage-Based"),
    ("charge_frequency", "OneTime", "One-Time"),
    ("charge_frequency", "Recurring", "Recurring"),
    ("commitment_discount_status", "Unused", "Unused"),
    ("commitment_discount_category", "Spend", "Spend"),
    ("charge_class", "Correction", "Correction"),
])
def test_vendor_commitment_values_map_onto_focus_allowed_values(field, raw, canonical):
    decided = values_of(field, [raw])
    assert decided[raw] == (canonical, "auto"), decided


def test_a_value_outside_focus_is_never_mapped_automatically():
    decided = values_of("pricing_category", ["Bananas"])
    assert decided["Bananas"][1] != "auto"
