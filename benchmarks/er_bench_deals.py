"""`manage.py bench_er --entity opportunity`: entity resolution of deals on synthetic data with known
copies, written straight into a tenant's DuckDB store (the harness of benchmarks/er_bench.py).

The generator (`synthetic_deals`, seeded): companies, each in two systems under each system's own
account id (`_acc_link` links both to one unified account, as the account view would), and deals at
them: named after a product and often the company ("Acme - Renewal 2026"), so deals at one company
often share a name; amounts drawn log-normally and rounded to hundreds; close dates over three years.
A share of the first system's deals (`COPIED`) is in the second system too, as a migration or a sync
leaves them: the name typed otherwise now and then (case, punctuation, a typo), the amount or the close
date edited since (a few percent, a few days), a value missing. The second system also has deals of its
own at the same companies. Every copy is a true pair; nothing else is.
"""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa

ENTITY = "opportunity"
SOURCE_OBJECT = "deals"
TEXT_FIELDS = ("account_id", "name", "amount", "close_date")
COPIED = 0.25  # of the first system's deals, the share the second system holds too
DEALS_PER_COMPANY = 6
PRODUCTS = ("Platform License", "Analytics Add-on", "Premium Support", "Data Migration", "Enterprise Expansion",
            "Renewal", "Pilot", "Training Package", "Professional Services", "Upsell", "Seats", "Integration")
COMPANY_WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent",
                 "Hooli", "Vandelay", "Wonka", "Gringotts", "Oscorp", "Nakatomi", "Monarch", "Aperture", "Virtucon",
                 "Massive", "Dynamic", "Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Proseware")
SUFFIXES = ("Systems", "Labs", "Group", "Logistics", "Capital", "Health", "Foods", "Energy", "Media", "Works")


def _name_variant(r: random.Random, name: str) -> str:
    roll = r.random()
    if roll < 0.2:
        return name.upper() if r.random() < 0.5 else name.lower()
    if roll < 0.35:
        return name.replace(" - ", " – ").replace("-", " ")
    if roll < 0.45 and len(name) > 8:
        i = r.randint(2, len(name) - 3)
        return name[:i] + name[i + 1:]  # a letter dropped
    return name


def synthetic_deals(rows: int, *, seed: int = 19) -> pa.Table:
    """About `rows` deal records in two systems (connection 1 and 2), with `truth` (the deal each is)."""
    rng = np.random.default_rng(seed)
    r = random.Random(seed)
    originals = max(1, int(rows / (1 + COPIED + 0.1)))  # the second system's own deals: 10% of the first's
    companies = max(1, originals // DEALS_PER_COMPANY)
    company_names = [f"{COMPANY_WORDS[i % len(COMPANY_WORDS)]} {SUFFIXES[(i // len(COMPANY_WORDS)) % len(SUFFIXES)]}"
                     f"{'' if i < len(COMPANY_WORDS) * len(SUFFIXES) else ' ' + str(i)}" for i in range(companies)]
    company = rng.integers(0, companies, originals)
    product = rng.integers(0, len(PRODUCTS), originals)
    year = rng.integers(2024, 2028, originals)
    amount = (np.round(rng.lognormal(10.3, 1.0, originals) / 100) * 100 + 500).astype(np.int64)
    day = rng.integers(0, 3 * 365, originals)
    base_date = np.datetime64("2024-01-01")
    out = {"_connection_id": [], "_source_id": [], "truth": [], **{c: [] for c in TEXT_FIELDS}}

    def add(conn: int, sid: str, truth: int, acc: str, name: str | None, amt: float | None, close) -> None:
        out["_connection_id"].append(conn)
        out["_source_id"].append(sid)
        out["truth"].append(truth)
        out["account_id"].append(acc)
        out["name"].append(name)
        out["amount"].append(None if amt is None else f"{amt:.2f}")
        out["close_date"].append(None if close is None else str(close))

    for i in range(originals):
        c = int(company[i])
        styled = r.random()
        name = (f"{company_names[c]} - {PRODUCTS[product[i]]}" if styled < 0.5
                else f"{PRODUCTS[product[i]]} {year[i]}" if styled < 0.8 else PRODUCTS[product[i]])
        close = base_date + np.timedelta64(int(day[i]), "D")
        add(1, f"sf{i:09d}", i, f"A1-{c}", name, float(amount[i]), close)
        if r.random() < COPIED:
            amt, when = float(amount[i]), close
            roll = r.random()
            if roll < 0.15:
                amt = round(amt * (1 + r.uniform(-0.01, 0.01)), 2)
            elif roll < 0.25:
                amt = round(amt * (1 + r.uniform(-0.1, 0.1)), -2)
            elif roll < 0.28:
                amt = None
            roll = r.random()
            if roll < 0.25:
                when = close + np.timedelta64(r.randint(-7, 7), "D")
            elif roll < 0.35:
                when = close + np.timedelta64(r.randint(-30, 30), "D")
            add(2, f"hs{i:09d}", i, f"A2-{c}", _name_variant(r, name), amt, when)
    own = originals + np.arange(max(0, rows - len(out["truth"])))
    for k, t in enumerate(own.tolist()):
        c = int(rng.integers(0, companies))
        p = int(rng.integers(0, len(PRODUCTS)))
        name = f"{company_names[c]} - {PRODUCTS[p]}" if r.random() < 0.5 else PRODUCTS[p]
        close = base_date + np.timedelta64(int(rng.integers(0, 3 * 365)), "D")
        add(2, f"hn{k:09d}", t, f"A2-{c}", name, float(int(rng.lognormal(10.3, 1.0)) // 100 * 100 + 500), close)
    order = rng.permutation(len(out["truth"]))
    table = pa.table({
        "_connection_id": pa.array(out["_connection_id"], pa.int64()),
        "_source_id": pa.array(out["_source_id"]),
        "truth": pa.array(out["truth"], pa.int64()),
        **{c: pa.array(out[c], pa.string()) for c in TEXT_FIELDS},
    })
    return table.take(pa.array(order))


def accounts_link(con, data: pa.Table) -> None:
    """`_acc_link` and `_acc_byid`: each system's account id → one unified account per company (what the
    account view's build leaves for the deals to link to)."""
    con.register("_bench_deals_in", data.select(["_connection_id", "account_id"]))
    con.execute("""CREATE OR REPLACE TABLE _acc_link AS
        SELECT DISTINCT _connection_id, account_id AS _source_id, NULL::VARCHAR AS _domain, NULL::VARCHAR AS _nname,
               'acc_' || split_part(account_id, '-', 2) AS unified_id
        FROM _bench_deals_in WHERE account_id IS NOT NULL""")
    con.execute("""CREATE OR REPLACE TABLE _acc_byid AS SELECT _source_id, min(unified_id) AS unified_id
                   FROM _acc_link GROUP BY _source_id HAVING count(DISTINCT unified_id) = 1""")
    con.unregister("_bench_deals_in")


def fill(con, records: pa.Table) -> int:
    """Write `records` into `src_opportunity` as one consumer transaction would; returns its `_txn`."""
    from .er_bench import fill as fill_source

    schema = pa.schema([("id", pa.string()), ("account_id", pa.string()), ("name", pa.string()),
                        ("amount", pa.float64()), ("close_date", pa.date32())])
    return fill_source(con, records, entity=ENTITY, schema=schema, source_object=SOURCE_OBJECT,
                       fields="account_id, name, CAST(amount AS DOUBLE) AS amount, "
                              "CAST(close_date AS DATE) AS close_date")
