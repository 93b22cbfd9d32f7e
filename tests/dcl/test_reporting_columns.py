"""Reporting-currency columns of the views (dcl/reporting.py): amounts at the rate of their day, through
the euro, decimal, NULL with the reason where a currency or a rate is missing.

Most tests build the views in an in-memory DuckDB with a rate table in memory; the last one runs the
real path (stream → consumer → views → PostgreSQL) with rates loaded by fx_load.
"""

from datetime import date
from decimal import Decimal

import duckdb
import pytest
from django.core.management import call_command
from django.db import connection

from aam.ingest.kinds import Kind
from connectors.models import Connection
from dcl import store
from dcl.pipeline.materialize import materialize_with_values
from dcl.reporting import FxContext
from dcl.selectors import view_all
from dcl.unify import Unifier, view_spec
from tenants.money.rates import RateTable
from tests.pipeline.support import SF_OPPORTUNITY, batches_for, mappings_record, publish

OPPORTUNITY = {"id": Kind.STRING, "name": Kind.STRING, "amount": Kind.DECIMAL, "currency": Kind.STRING,
               "close_date": Kind.DATE}
COST = {"billing_currency": Kind.STRING, "billed_cost": Kind.DECIMAL, "effective_cost": Kind.DECIMAL,
        "charge_period_start": Kind.DATETIME}
DUCK = {Kind.STRING: "VARCHAR", Kind.DECIMAL: "DECIMAL(38, 10)", Kind.DATE: "DATE", Kind.DATETIME: "TIMESTAMPTZ"}
RATES = {  # units per EUR; 2026-01-09 is a Friday, the 10th and 11th a weekend
    "USD": [(date(2026, 1, 8), Decimal("1.1650")), (date(2026, 1, 9), Decimal("1.1600"))],
    "GBP": [(date(2026, 1, 8), Decimal("0.86800")), (date(2026, 1, 9), Decimal("0.86500"))],
    "JPY": [(date(2026, 1, 9), Decimal("183.10"))],
}


def _fx(currency="USD", rates=RATES):
    return FxContext(reporting_currency=currency, rates=lambda currencies, until: RateTable(
        {c: v for c, v in rates.items() if c in currencies}))


def _table(con, entity, fields, rows):
    cols = {**store.SYSTEM_COLUMNS, **{f: DUCK[k] for f, k in fields.items()}}
    con.execute(f"CREATE OR REPLACE TABLE src_{entity} ({', '.join(f'{n} {t}' for n, t in cols.items())})")
    for i, row in enumerate(rows):
        full = {"_connection_id": 1, "_source_id": str(i), "_source_object": entity, "_deleted": False,
                "_ingested_at": "2026-01-01T00:00:00Z", **row}
        con.execute(f"INSERT INTO src_{entity} ({', '.join(full)}) VALUES ({', '.join('?' for _ in full)})",
                    list(full.values()))


def _build(entity, fields, rows, fx):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    _table(con, entity, fields, rows)
    # values=False: the currency column as given (these tests are about conversion, not value mapping)
    unifier = Unifier(con, {entity: view_spec(entity, fields, values=False)}, {1: "salesforce"}, fx=fx)
    unifier.build(entity)
    return con, unifier


def _rows(con, entity, columns):
    cur = con.execute(f"SELECT {', '.join(columns)} FROM view_{entity} ORDER BY _src_id::INTEGER")
    return [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]


DEALS = [
    {"id": "usd", "amount": Decimal("1000"), "currency": "USD", "close_date": date(2026, 1, 9)},
    {"id": "eur", "amount": Decimal("1000"), "currency": "EUR", "close_date": date(2026, 1, 9)},
    {"id": "gbp-weekend", "amount": Decimal("1000"), "currency": "GBP", "close_date": date(2026, 1, 11)},
    {"id": "gbp-thursday", "amount": Decimal("1000"), "currency": "GBP", "close_date": date(2026, 1, 8)},
    {"id": "jpy-early", "amount": Decimal("100000"), "currency": "JPY", "close_date": date(2026, 1, 8)},
    {"id": "none", "amount": Decimal("5"), "currency": None, "close_date": date(2026, 1, 9)},
    {"id": "no-date", "amount": Decimal("5"), "currency": "GBP", "close_date": None},
    {"id": "no-amount", "amount": None, "currency": None, "close_date": None},
    {"id": "huge", "amount": Decimal("100000000000000000000"), "currency": "GBP", "close_date": date(2026, 1, 9)},
]
COLUMNS = ["id", "amount_reporting", "reporting_currency", "fx_rate", "fx_rate_date", "fx_missing"]


@pytest.fixture(scope="module")
def deals():
    con, _ = _build("opportunity", OPPORTUNITY, DEALS, _fx())
    return {r["id"]: r for r in _rows(con, "opportunity", COLUMNS)}


def test_an_amount_converts_at_its_close_dates_rate(deals):
    assert deals["eur"]["amount_reporting"] == Decimal("1160.0000000000")
    assert (deals["eur"]["fx_rate"], deals["eur"]["fx_rate_date"]) == (Decimal("1.16"), date(2026, 1, 9))
    assert deals["usd"]["amount_reporting"] == Decimal("1000")
    assert (deals["usd"]["fx_rate"], deals["usd"]["fx_rate_date"], deals["usd"]["fx_missing"]) == (1, None, None)
    assert {r["reporting_currency"] for r in deals.values()} == {"USD"}


def test_a_weekend_close_date_takes_fridays_rate_and_gbp_goes_through_the_euro(deals):
    # 1000 GBP on Sunday the 11th: Friday's 1.16 / 0.865 = 1.341040462428 USD per GBP
    assert deals["gbp-weekend"]["amount_reporting"] == Decimal("1341.0404624280")
    assert deals["gbp-weekend"]["fx_rate_date"] == date(2026, 1, 9)
    # Thursday the 8th: 1.165 / 0.868 = 1.342165898618
    assert deals["gbp-thursday"]["amount_reporting"] == Decimal("1342.1658986180")


def test_a_missing_rate_or_currency_leaves_null_and_says_why(deals):
    got = {k: (deals[k]["amount_reporting"], deals[k]["fx_missing"])
           for k in ("jpy-early", "none", "no-date", "no-amount", "huge")}
    assert got == {"jpy-early": (None, "no_rate"), "none": (None, "no_currency"), "no-date": (None, "no_date"),
                   "no-amount": (None, None), "huge": (None, "out_of_range")}


def test_another_reporting_currency_converts_the_other_way():
    con, _ = _build("opportunity", OPPORTUNITY, DEALS[:3], _fx("GBP"))
    rows = {r["id"]: r for r in _rows(con, "opportunity", COLUMNS)}
    assert rows["usd"]["amount_reporting"] == Decimal("745.6896551720")  # 1000 × 0.865 / 1.16
    assert rows["eur"]["amount_reporting"] == Decimal("865.0000000000")
    assert rows["gbp-weekend"]["amount_reporting"] == Decimal("1000")


def test_a_reporting_currency_without_rates_is_named():
    con, _ = _build("opportunity", OPPORTUNITY, DEALS[:2], _fx("CHF"))
    rows = {r["id"]: r for r in _rows(con, "opportunity", COLUMNS)}
    assert {k: (r["amount_reporting"], r["fx_missing"]) for k, r in rows.items()} == {
        "usd": (None, "no_reporting_rate"), "eur": (None, "no_reporting_rate")}


def test_cost_lines_convert_billed_and_effective_cost_at_the_charge_period_starts_rate():
    lines = [
        {"billing_currency": "GBP", "billed_cost": Decimal("10"), "effective_cost": Decimal("8"),
         "charge_period_start": "2026-01-09T23:30:00-02:00"},  # 2026-01-10 01:30 UTC, a Saturday: Friday's rate
        {"billing_currency": "USD", "billed_cost": Decimal("3.25"), "effective_cost": None,
         "charge_period_start": "2026-01-09T00:00:00Z"},
        {"billing_currency": "JPY", "billed_cost": Decimal("500"), "effective_cost": None,
         "charge_period_start": "2026-01-08T00:00:00Z"},
    ]
    con, _ = _build("cost", COST, lines, _fx())
    rows = _rows(con, "cost", ["billed_cost_reporting", "effective_cost_reporting", "fx_rate_date", "fx_missing"])
    assert rows == [
        {"billed_cost_reporting": Decimal("13.4104046243"), "effective_cost_reporting": Decimal("10.7283236994"),
         "fx_rate_date": date(2026, 1, 9), "fx_missing": None},
        {"billed_cost_reporting": Decimal("3.25"), "effective_cost_reporting": None, "fx_rate_date": None,
         "fx_missing": None},
        {"billed_cost_reporting": None, "effective_cost_reporting": None, "fx_rate_date": None,
         "fx_missing": "no_rate"},
    ]


def test_a_rebuild_replaces_the_previous_conversion():
    con, unifier = _build("opportunity", OPPORTUNITY, DEALS[:2], _fx())
    unifier.fx = _fx("EUR")
    unifier.build("opportunity")
    rows = {r["id"]: r for r in _rows(con, "opportunity", COLUMNS)}
    assert rows["usd"]["amount_reporting"] == Decimal("862.0689655170")  # 1000 / 1.16
    assert rows["eur"]["reporting_currency"] == "EUR"


def test_without_an_fx_context_the_columns_stay_empty():
    con, _ = _build("opportunity", OPPORTUNITY, DEALS[:1], None)
    assert _rows(con, "opportunity", COLUMNS) == [{"id": "usd", "amount_reporting": None, "reporting_currency": None,
                                                  "fx_rate": None, "fx_rate_date": None, "fx_missing": None}]


@pytest.mark.django_db
def test_the_materialized_view_carries_reporting_amounts_from_the_tenants_rates(tenant_a, tmp_path):
    rates = tmp_path / "rates.csv"
    rates.write_text("Date,USD,GBP,\n2026-01-09,1.1600,0.86500,\n2026-01-08,1.1650,0.86800,\n")
    call_command("fx_load", str(rates), tenant="alpha")
    connection.set_tenant(tenant_a)
    try:
        conn = Connection.objects.create(name="SF", kind="salesforce")
        records = [{"Id": f"006{i:015d}", "Name": f"Deal {i}", "StageName": "Prospecting", "Amount": amount,
                    "CloseDate": close, "CurrencyIsoCode": currency}
                   for i, (amount, close, currency) in enumerate([("1000", "2026-01-10", "GBP"),
                                                                  ("250.50", "2026-01-09", "USD"),
                                                                  ("99", "2026-01-09", "CHF")])]
        mapping = {**SF_OPPORTUNITY, "CurrencyIsoCode": "currency"}
        mappings_record(conn.pk, mapping)
        publish(tenant_a, conn.pk, batches_for(tenant_a, conn.pk, records, mapping=mapping))
        materialize_with_values(tenant=tenant_a)  # currency codes are value-mapped (ISO 4217) first
        rows = sorted(view_all(entity="opportunity"), key=lambda r: r["name"])
    finally:
        connection.set_schema_to_public()
    got = [(r["name"], r["amount_reporting"], r["reporting_currency"], r["fx_missing"]) for r in rows]
    assert got == [("Deal 0", Decimal("1341.0404624280"), "USD", None), ("Deal 1", Decimal("250.5"), "USD", None),
                   ("Deal 2", None, "USD", "no_rate")]


@pytest.mark.django_db
def test_records_without_a_currency_take_their_connections_and_convert(tenant_a, tmp_path):
    """A single-currency source (no currency column): its connection's currency fills the canonical
    column, said to be a default, and the amounts convert at it; without one they are named unconverted."""
    rates = tmp_path / "rates.csv"
    rates.write_text("Date,USD,GBP,\n2026-01-09,1.1600,0.86500,\n")
    call_command("fx_load", str(rates), tenant="alpha")
    connection.set_tenant(tenant_a)
    try:
        eur = Connection.objects.create(name="SF EUR org", kind="salesforce", currency="EUR")
        none = Connection.objects.create(name="SF no currency", kind="salesforce")
        for conn, prefix in ((eur, "E"), (none, "N")):
            records = [{"Id": f"006{prefix}{i:014d}", "Name": f"{prefix} deal {i}", "StageName": "Prospecting",
                        "Amount": "1000", "CloseDate": "2026-01-09"} for i in range(2)]
            mappings_record(conn.pk)
            publish(tenant_a, conn.pk, batches_for(tenant_a, conn.pk, records))
        materialize_with_values(tenant=tenant_a)
        rows = {r["name"]: r for r in view_all(entity="opportunity")}
    finally:
        connection.set_schema_to_public()
    assert (rows["E deal 0"]["currency"], rows["E deal 0"]["currency_status"]) == ("EUR", "default")
    assert rows["E deal 0"]["currency_source"] is None  # the source said nothing: nothing is made up as its value
    assert rows["E deal 0"]["amount_reporting"] == Decimal("1160.0000000000")
    assert (rows["N deal 1"]["currency"], rows["N deal 1"]["currency_status"]) == (None, None)
    assert (rows["N deal 1"]["amount_reporting"], rows["N deal 1"]["fx_missing"]) == (None, "no_currency")
