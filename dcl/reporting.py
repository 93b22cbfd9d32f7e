"""Reporting-currency columns of the unified views (ADR 0015).

`reporting_columns_add` runs at the end of a view's build: every amount of an opportunity (at its
close date's rate) and of a cost line (at its charge period start's rate, UTC) is converted into the
tenant's reporting currency, through the euro, with the latest rate on or before that day. The
columns it fills (declared in the view's spec by `reporting_fields`, so the PostgreSQL views, the
catalog and the API carry them):

- `amount_reporting` (opportunity), `billed_cost_reporting` / `effective_cost_reporting` (cost);
- `reporting_currency`: the currency of those amounts;
- `fx_rate`: reporting units per unit of the record's currency (1 for the same currency), and
  `fx_rate_date`: the day of the (older) rate used, NULL for the same currency;
- `fx_missing`: why an amount has no reporting value (NULL when it has one or there is nothing to
  convert): no_currency, unknown_currency, no_date, no_rate, no_reporting_rate (tenants/money/rates.py),
  or out_of_range (an amount too large to convert exactly).

The arithmetic is decimal end to end: the factor of each distinct (currency, day) pair is computed in
Python's Decimal (tenants.money.rates) and multiplied in DuckDB DECIMAL; nothing goes through a float
except the range guard that keeps a hostile amount from overflowing the multiplication.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa

from aam.ingest.kinds import Kind
from tenants.money.rates import RateTable

from . import store

OUT_OF_RANGE = "out_of_range"
_CODE_RE = re.compile(r"^[A-Z]{3}$")
_NO_DAY = date(1, 1, 1)  # join key of a record without a day (NULL never equals NULL in a join)
# Guards of the exact multiplication DECIMAL(28,10) × DECIMAL(22,12) = DECIMAL(38,22): 16 integer digits.
_MAX_AMOUNT = "1e17"
_MAX_PRODUCT = "1e15"


@dataclass(frozen=True)
class Conversion:
    currency: str  # the record's currency column
    day: str  # SQL (over alias b) for the day whose rate applies
    amounts: dict[str, str]  # reporting column → amount column


CONVERSIONS = {
    "opportunity": Conversion(currency="currency", day="b.close_date", amounts={"amount_reporting": "amount"}),
    "cost": Conversion(
        currency="billing_currency",
        # the UTC date, by arithmetic on the epoch (a time-zone conversion per row costs 7 times more)
        day="(DATE '1970-01-01' + CAST(epoch_us(b.charge_period_start) // 86400000000 AS INTEGER))",
        amounts={"billed_cost_reporting": "billed_cost", "effective_cost_reporting": "effective_cost"},
    ),
}
_COMMON = {"reporting_currency": Kind.STRING, "fx_rate": Kind.DECIMAL, "fx_rate_date": Kind.DATE,
           "fx_missing": Kind.STRING}


def reporting_fields(entity: str) -> dict[str, Kind]:
    """The reporting columns a view of `entity` carries (none for entities without money)."""
    conversion = CONVERSIONS.get(entity)
    if conversion is None:
        return {}
    return {**dict.fromkeys(conversion.amounts, Kind.DECIMAL), **_COMMON}


@dataclass(frozen=True)
class FxContext:
    """The tenant's reporting currency and a loader of its rates (read once per materialization)."""

    reporting_currency: str
    rates: object  # callable(currencies, until) -> RateTable
    stamp: str = ""  # changes whenever a rate is loaded, changed or removed (tenants.money.selectors.rates_stamp)

    def table(self, currencies: set[str], until: date | None) -> RateTable:
        return self.rates(currencies=currencies, until=until)


def fx_context() -> FxContext:
    """The current tenant's FX context (call inside the tenant)."""
    from tenants.money.selectors import rate_table, rates_stamp, reporting_currency

    return FxContext(reporting_currency=reporting_currency(), rates=rate_table, stamp=rates_stamp())


def reporting_columns_add(con: duckdb.DuckDBPyConnection, entity: str, fx: FxContext | None, *,
                          relations: dict[str, str | None] | None = None, merge: bool = False) -> None:
    """Fill the reporting columns of the just-built `view_<entity>` (see the module docstring).

    The built view (or table) becomes `_fx_base_<entity>`; `view_<entity>` is redefined over it, joined
    to `_fx_factors_<entity>`: one row per distinct (currency, day) of the view. Without an FX context
    (a build outside a tenant, as in the unifier's own tests) the columns stay NULL.

    `relations`: {relation: its column of the record's canonical currency} when more than `view_<entity>`
    carries the columns (a per-record entity's publish relation, dcl/unify.py); each is redefined so,
    over the same factors, read from the first (its cheapest).

    `merge`: the relations hold only some records (an incremental publication, dcl/unify.py
    `delta_relations`): their pairs are added to the factors the full relations read, which keep the
    pairs they had (the rates are those of the last full build: a change of rates or of the reporting
    currency rebuilds every view, `FxContext.stamp`)."""
    conversion = CONVERSIONS.get(entity)
    if conversion is None or fx is None:
        return
    if relations is None:
        relations = {f"view_{store.ident(entity)}": conversion.currency}
    factors = f"_fx_factors_{entity}"
    kinds = {relation: store.relation_kind(con, relation) for relation in relations}
    if None in kinds.values():
        return
    bases = {}
    for relation, kind in kinds.items():
        base = "_fx_base_" + relation.removeprefix("view_")
        old = store.relation_kind(con, base)
        if old:
            con.execute(f"DROP {old} {base}")
        con.execute(f"ALTER {kind} {relation} RENAME TO {base}")
        bases[relation] = base
    q = store.quote
    has_amount = " OR ".join(f"b.{q(c)} IS NOT NULL" for c in conversion.amounts.values())
    first, currency = next(iter(relations.items()))
    pairs = con.execute(f"SELECT DISTINCT b.{q(currency)}, {conversion.day} FROM {bases[first]} b "
                        f"WHERE {has_amount}").fetchall()
    target = fx.reporting_currency
    if not _CODE_RE.match(target or ""):
        raise ValueError(f"the reporting currency {target!r} is not a three-letter currency code")
    needed = {c for c, _ in pairs if c} | {target}
    days = [d for _, d in pairs if d is not None]
    table = fx.table(needed, max(days) if days else None)
    keys_c, keys_d, factor, rate_day, missing = [], [], [], [], []
    for currency_code, day in pairs:
        conv = table.conversion(currency_code, target, day)
        keys_c.append(currency_code or "")
        keys_d.append(day or _NO_DAY)
        factor.append(conv.factor)
        rate_day.append(conv.rate_day)
        missing.append(conv.missing)
    arrow = pa.table({
        "c": pa.array(keys_c, pa.string()), "d": pa.array(keys_d, pa.date32()),
        "factor": pa.array(factor, pa.decimal128(22, 12)), "rate_day": pa.array(rate_day, pa.date32()),
        "missing": pa.array(missing, pa.string()),
    })
    con.register("_fx_factors_in", arrow)
    try:
        if merge and store.relation_kind(con, factors) == "TABLE":
            con.execute(f"INSERT INTO {factors} SELECT i.* FROM _fx_factors_in i ANTI JOIN {factors} f USING (c, d)")
        else:
            con.execute(f"CREATE OR REPLACE TABLE {factors} AS SELECT * FROM _fx_factors_in")
    finally:
        con.unregister("_fx_factors_in")

    def fits(column: str) -> str:
        """The exact product below has 16 integer digits: larger amounts are left out (out_of_range)."""
        amount = f"b.{q(column)}"
        return (f"(abs({amount}) < {_MAX_AMOUNT} AND "
                f"abs(CAST({amount} AS DOUBLE)) * CAST(f.factor AS DOUBLE) < {_MAX_PRODUCT})")

    def converted(column: str) -> str:
        # round(…, 10) brings DECIMAL(38, 22) to (38, 10) about twice as fast as a CAST does
        return (f"CASE WHEN {fits(column)} THEN round(CAST(b.{q(column)} AS DECIMAL(28, 10)) * f.factor, 10) END")

    too_big = " OR ".join(
        f"(b.{q(c)} IS NOT NULL AND f.factor IS NOT NULL AND NOT {fits(c)})" for c in conversion.amounts.values())
    replaced = [f"{converted(src)} AS {q(dst)}" for dst, src in conversion.amounts.items()]
    replaced += [
        f"'{target}'::VARCHAR AS reporting_currency",
        "round(f.factor, 10) AS fx_rate",
        "f.rate_day AS fx_rate_date",
        f"CASE WHEN f.missing IS NOT NULL THEN f.missing WHEN {too_big} THEN '{OUT_OF_RANGE}' END AS fx_missing",
    ]
    for relation, base in bases.items():
        cur = f"b.{q(relations[relation])}"
        day = f"coalesce({conversion.day}, DATE '0001-01-01')"
        con.execute(f"""
            CREATE VIEW {relation} AS
            SELECT b.* REPLACE ({", ".join(replaced)})
            FROM {base} b
            LEFT JOIN {factors} f ON f.c = coalesce({cur}, '') AND f.d = {day}""")
