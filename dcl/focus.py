"""The tenant's cost view as a FOCUS 1.2 dataset (FinOps Open Cost and Usage Specification, v1.2):
`manage.py export_focus --tenant T --out FILE` (CSV or Parquet). docs/adr/0030.

Every FOCUS 1.2 column is written, in the spec's PascalCase names and order (`COLUMNS`), from the
cost view's column of the same name in snake_case (aam/ontology.json: the cost entity holds all 57).
Value-set columns carry their canonical value (ChargeCategory `Usage`, PricingCategory `Committed`...;
a value still awaiting review is empty). Where a mandatory, non-null column has no source value the
export derives it, by these stated rules only:
- EffectiveCost: the billed cost (no amortization known); ListCost and ContractedCost: the contracted,
  then list, then billed cost (no discount known);
- ChargePeriodEnd: the start's next day (a daily export with only a usage date), BillingPeriodEnd
  the first day of the month after BillingPeriodStart;
- ProviderName: the source system of the line's connection (AWS, Microsoft, Google Cloud...);
  PublisherName and InvoiceIssuerName: the provider;
- ServiceCategory: `Other` when the value is not known;
- ChargeFrequency (recommended, not null): Usage-Based for usage, Recurring for a purchase or fee whose
  raw charge type says recurring, One-Time for other purchases, taxes, credits and adjustments;
- the commitment columns of a line with a CommitmentDiscountId and none of its own (a CUR or an Azure
  export has no such columns): its category and type from the id's form (an AWS Savings Plan ARN is Spend /
  Savings Plan; an EC2 reserved-instances ARN, an Azure reservation or a GCP commitment is Usage / Reserved
  Instance, Reservation, Committed Use Discount), its status Unused when the raw charge type says unused,
  else Used for usage (null for the purchase itself, as FOCUS has it).
Date/times are ISO 8601 in UTC (`2026-11-03T00:00:00Z`); Tags and SkuPriceDetails are JSON objects.
In Parquet, decimals are float64 (what FOCUS tools read as Decimal: the FinOps Foundation's validator
reads a decimal128 column as objects) and date/times timestamps in UTC.

A tenant without cost lines (no cost view, or an empty one) exports nothing: `EmptyExport` is raised
and the command exits non-zero with the reason, rather than writing a header-only file that a FOCUS
consumer would load as "no spend".
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from django.db import connection

FOCUS_VERSION = "1.2"
# (FOCUS column, data type) in the order of FOCUS_Spec v1.2 specification/columns (alphabetical).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("AvailabilityZone", "string"), ("BilledCost", "decimal"), ("BillingAccountId", "string"),
    ("BillingAccountName", "string"), ("BillingAccountType", "string"), ("BillingCurrency", "string"),
    ("BillingPeriodEnd", "datetime"), ("BillingPeriodStart", "datetime"), ("CapacityReservationId", "string"),
    ("CapacityReservationStatus", "string"), ("ChargeCategory", "string"), ("ChargeClass", "string"),
    ("ChargeDescription", "string"), ("ChargeFrequency", "string"), ("ChargePeriodEnd", "datetime"),
    ("ChargePeriodStart", "datetime"), ("CommitmentDiscountCategory", "string"), ("CommitmentDiscountId", "string"),
    ("CommitmentDiscountName", "string"), ("CommitmentDiscountQuantity", "decimal"),
    ("CommitmentDiscountStatus", "string"), ("CommitmentDiscountType", "string"), ("CommitmentDiscountUnit", "string"),
    ("ConsumedQuantity", "decimal"), ("ConsumedUnit", "string"), ("ContractedCost", "decimal"),
    ("ContractedUnitPrice", "decimal"), ("EffectiveCost", "decimal"), ("InvoiceId", "string"),
    ("InvoiceIssuerName", "string"), ("ListCost", "decimal"), ("ListUnitPrice", "decimal"),
    ("PricingCategory", "string"), ("PricingCurrency", "string"), ("PricingCurrencyContractedUnitPrice", "decimal"),
    ("PricingCurrencyEffectiveCost", "decimal"), ("PricingCurrencyListUnitPrice", "decimal"),
    ("PricingQuantity", "decimal"), ("PricingUnit", "string"), ("ProviderName", "string"), ("PublisherName", "string"),
    ("RegionId", "string"), ("RegionName", "string"), ("ResourceId", "string"), ("ResourceName", "string"),
    ("ResourceType", "string"), ("ServiceCategory", "string"), ("ServiceName", "string"),
    ("ServiceSubcategory", "string"), ("SkuId", "string"), ("SkuMeter", "string"), ("SkuPriceDetails", "json"),
    ("SkuPriceId", "string"), ("SubAccountId", "string"), ("SubAccountName", "string"), ("SubAccountType", "string"),
    ("Tags", "json"),
)
FOCUS_NAMES = tuple(name for name, _ in COLUMNS)
# The provider's name by the source system of a connection (its config's `source_system`, else its kind).
PROVIDERS = {"aws": "AWS", "aws_cur": "AWS", "cur": "AWS", "azure": "Microsoft", "azure_cost": "Microsoft",
             "gcp": "Google Cloud", "gcp_billing": "Google Cloud", "oci": "Oracle Cloud Infrastructure"}
FETCH_ROWS = 20_000


class EmptyExport(Exception):
    """Nothing to export: the reason is the message."""


def snake(name: str) -> str:
    """The cost view's column of a FOCUS column: BilledCost → billed_cost."""
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _providers_sql() -> str:
    """(connection id, provider) of the tenant's connections, as a VALUES list PostgreSQL joins on."""
    from connectors.models import Connection

    pairs = []
    for pk, kind, config in Connection.objects.values_list("pk", "kind", "config"):
        system = str((config or {}).get("source_system") or kind).strip().lower()
        pairs.append((pk, PROVIDERS.get(system, system.replace("_", " ").title())))
    if not pairs:
        return "SELECT NULL::bigint AS connection_id, NULL::text AS provider WHERE false"
    values = ", ".join(f"({int(pk)}, {_literal(name)})" for pk, name in pairs)
    return f"SELECT * FROM (VALUES {values}) AS p(connection_id, provider)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_CD = "COALESCE(c.commitment_discount_id, '') <> ''"
_SP = "c.commitment_discount_id ILIKE 'arn:aws:savingsplans:%%'"


def _select_sql() -> str:
    """The SELECT of the export: one expression per FOCUS column (module docstring for the derivations)."""
    provider = "COALESCE(NULLIF(c.provider_name, ''), p.provider)"
    derived = {
        "EffectiveCost": "COALESCE(c.effective_cost, c.billed_cost)",
        "ListCost": "COALESCE(c.list_cost, c.contracted_cost, c.billed_cost)",
        "ContractedCost": "COALESCE(c.contracted_cost, c.list_cost, c.billed_cost)",
        "ChargePeriodEnd": "COALESCE(c.charge_period_end, c.charge_period_start + interval '1 day')",
        "BillingPeriodEnd": ("COALESCE(c.billing_period_end, date_trunc('month', c.billing_period_start AT TIME ZONE "
                             "'UTC') AT TIME ZONE 'UTC' + interval '1 month')"),
        "BillingPeriodStart": ("COALESCE(c.billing_period_start, date_trunc('month', c.charge_period_start AT TIME "
                               "ZONE 'UTC') AT TIME ZONE 'UTC')"),
        "ProviderName": provider,
        "PublisherName": f"COALESCE(NULLIF(c.publisher_name, ''), {provider})",
        "InvoiceIssuerName": f"COALESCE(NULLIF(c.invoice_issuer_name, ''), {provider})",
        "ServiceCategory": "COALESCE(c.service_category, 'Other')",
        "CommitmentDiscountCategory": (f"COALESCE(c.commitment_discount_category, CASE WHEN {_CD} THEN CASE "
                                       f"WHEN {_SP} THEN 'Spend' ELSE 'Usage' END END)"),
        "CommitmentDiscountType": (f"COALESCE(c.commitment_discount_type, CASE WHEN {_CD} THEN CASE WHEN {_SP} THEN "
                                   "'Savings Plan' WHEN c.commitment_discount_id ILIKE '%%reserved-instances%%' THEN "
                                   "'Reserved Instance' WHEN c.commitment_discount_id ILIKE '%%/reservations/%%' THEN "
                                   "'Reservation' WHEN c.commitment_discount_id ILIKE '%%commitment%%' OR "
                                   "c.commitment_discount_id ~ '^[0-9]+$' THEN 'Committed Use Discount' END END)"),
        "CommitmentDiscountStatus": (f"COALESCE(c.commitment_discount_status, CASE WHEN {_CD} THEN CASE WHEN "
                                     "c.charge_category_source ILIKE '%%unused%%' THEN 'Unused' WHEN "
                                     "c.charge_category = 'Usage' THEN 'Used' END END)"),
        "ChargeFrequency": ("COALESCE(c.charge_frequency, CASE WHEN c.charge_category = 'Usage' THEN 'Usage-Based' "
                            "WHEN lower(COALESCE(c.charge_category_source, '')) LIKE '%%recurring%%' THEN 'Recurring' "
                            "ELSE 'One-Time' END)"),
    }
    cols = [f'{derived.get(name, "c." + snake(name))} AS "{name}"' for name in FOCUS_NAMES]
    return (f"WITH p AS ({_providers_sql()}) SELECT {', '.join(cols)} FROM dcl_view_cost c "
            "LEFT JOIN p ON p.connection_id = (c.sources->0->>'connection_id')::bigint "
            "ORDER BY c.charge_period_start, c.unified_id")


def _cell(value, kind: str):
    if value is None:
        return None
    if kind == "datetime":
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(UTC)
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return str(value)
    if kind == "json":
        return json.dumps(value if isinstance(value, dict | list) else json.loads(value), sort_keys=True)
    if kind == "decimal" and isinstance(value, Decimal):
        return value
    return value


def cost_view_lines() -> int:
    """How many cost lines the tenant's view holds; EmptyExport when there is none."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('dcl_view_cost') IS NOT NULL")
        if not cursor.fetchone()[0]:
            raise EmptyExport("the tenant has no cost view: no cost source has been synced and materialized yet, so "
                              "there is nothing to export as FOCUS")
        cursor.execute("SELECT count(*) FROM dcl_view_cost")
        n = cursor.fetchone()[0]
    if not n:
        raise EmptyExport("the tenant's cost view has no lines: nothing to export as FOCUS (a header-only file would "
                          "read as a month with no spend)")
    return n


def focus_rows() -> Iterator[tuple]:
    """The export's rows, FOCUS columns in order, read in batches from a server-side cursor (which
    needs a transaction: one for the export's duration)."""
    from django.db import transaction

    kinds = [kind for _, kind in COLUMNS]
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(_select_sql())
        while batch := cursor.fetchmany(FETCH_ROWS):
            for row in batch:
                yield tuple(_cell(v, k) for v, k in zip(row, kinds, strict=True))


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int
    format: str


def export_focus(path: str | Path, *, fmt: str | None = None) -> Written:
    """Write the current tenant's cost view as FOCUS 1.2 to `path` (`fmt`: csv or parquet, else the
    file's suffix). Raises EmptyExport for a tenant without cost lines (the file is not written)."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"the export's format is csv or parquet (from --format or the file's suffix), not {fmt!r}")
    cost_view_lines()
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = _write_csv(path) if fmt == "csv" else _write_parquet(path)
    return Written(path=path, rows=rows, format=fmt)


def _write_csv(path: Path) -> int:
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(FOCUS_NAMES)
        for row in focus_rows():
            writer.writerow(["" if v is None else v for v in row])
            n += 1
    return n


def _arrow_schema():
    import pyarrow as pa

    types = {"string": pa.string(), "decimal": pa.float64(), "datetime": pa.timestamp("us", tz="UTC"),
             "json": pa.string()}
    return pa.schema([pa.field(name, types[kind]) for name, kind in COLUMNS],
                     metadata={"focus_version": FOCUS_VERSION})


def _write_parquet(path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema()
    kinds = [kind for _, kind in COLUMNS]
    n, batch = 0, []

    def flush(writer) -> None:
        columns = list(zip(*batch, strict=True))
        arrays = []
        for values, kind, field in zip(columns, kinds, schema, strict=True):
            if kind == "datetime":
                values = [None if v is None else datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                          for v in values]
            elif kind == "decimal":
                values = [None if v is None else float(v) for v in values]
            arrays.append(pa.array(values, type=field.type))
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema))

    with pq.ParquetWriter(path, schema) as writer:
        for row in focus_rows():
            batch.append(row)
            n += 1
            if len(batch) >= FETCH_ROWS:
                flush(writer)
                batch = []
        if batch:
            flush(writer)
    return n
