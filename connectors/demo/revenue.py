"""The demo's revenue-operations extras: sales quotas, and later snapshots of the Salesforce deals.

Both are derived from the exports `generate` has already written and drawn from random generators of
their own, so the rows and draws of the existing exports (whose figures the docs quote) never change.

- `write_quotas`: `salesforce/Quota.csv` (ForecastingQuota's API names, in USD) for every Salesforce
  owner, and `hubspot/quotas.csv` (a spreadsheet export people keep beside HubSpot, one owner in EUR)
  for all but one HubSpot owner, each for the previous, current and next calendar quarter. Dynamics
  owners get none: the forecast rollup then says their quota is missing, as it must for a real
  tenant.
- `revise_deals(folder, revision)`: the Salesforce opportunities as the CRM holds them `revision`
  snapshots later: close dates pushed (some twice) or pulled in, amounts cut or raised, stages
  advanced, deals won or lost, two deals created. seed_demo syncs revision 0, 1 and 2 one after the other, so the
  history (ADR 0020) has the versions the waterfall, slippage and time in stage read.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

from .crm import SF_PROB, SF_STAGES, _write
from .salesforce import sf_id

# Stage index (SF_STAGES) a revision may advance an open deal to; 6 won, 7 lost.
_WON, _LOST = 6, 7
QUOTA_FILES = {"salesforce": "Quota.csv", "hubspot": "quotas.csv"}


def quarter_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of the calendar quarter holding `day`."""
    first = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    nxt = dt.date(first.year + (first.month + 3 > 12), (first.month + 2) % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def _quarters(as_of: dt.date) -> list[tuple[dt.date, dt.date]]:
    current = quarter_of(as_of)
    return [quarter_of(current[0] - dt.timedelta(days=1)), current, quarter_of(current[1] + dt.timedelta(days=1))]


def _owners(path: Path, column: str) -> list[str]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8-sig") as f:
        return sorted({row[column] for row in csv.DictReader(f) if row.get(column)})


def write_quotas(out: Path, *, seed: int, as_of: dt.date) -> dict[str, int]:
    """Quota files for the Salesforce and HubSpot owners of the exports already under `out`."""
    rng = random.Random(f"autonomos-demo-quota:{seed}")
    quarters = _quarters(as_of)
    sf_rows, hs_rows = [], []
    for n, owner in enumerate(_owners(out / "salesforce" / "Opportunity.csv", "OwnerId")):
        for start, end in quarters:
            sf_rows.append({"Id": f"0J95g{n:04d}{start:%y%m}AAA", "QuotaOwnerId": owner,
                            "StartDate": start.isoformat(), "EndDate": end.isoformat(),
                            "QuotaAmount": f"{rng.randint(6, 14) * 25_000:.2f}", "CurrencyIsoCode": "USD"})
    hs_owners = _owners(out / "hubspot" / "deals.csv", "hubspot_owner_id")
    for n, owner in enumerate(hs_owners[:-1]):  # the last owner has no quota: the rollup says so
        for start, end in quarters:
            hs_rows.append({"Owner ID": owner, "Period start": start.isoformat(), "Period end": end.isoformat(),
                            "Quota amount": str(rng.randint(5, 12) * 20_000), "Currency": "EUR" if n == 0 else "USD"})
    return {
        "salesforce/Quota.csv": _write(out / "salesforce" / "Quota.csv", list(sf_rows[0]) if sf_rows else ["Id"],
                                       sf_rows),
        "hubspot/quotas.csv": _write(out / "hubspot" / "quotas.csv", list(hs_rows[0]) if hs_rows else ["Owner ID"],
                                     hs_rows),
    }


def _stage_index(name: str) -> int:
    return SF_STAGES.index(name) if name in SF_STAGES else 0


def _set_stage(row: dict, stage: int) -> None:
    row["StageName"] = SF_STAGES[stage]
    row["Probability"] = SF_PROB[stage]
    row["IsClosed"] = "true" if stage >= _WON else "false"
    row["IsWon"] = "true" if stage == _WON else "false"
    row["ForecastCategoryName"] = ("Closed" if stage == _WON else "Omitted" if stage == _LOST else
                                   "Commit" if stage == 5 else "Best Case" if stage >= 3 else "Pipeline")


def _revise(rows: list[dict], rng: random.Random, as_of: dt.date, pushed: set[str], revision: int) -> None:
    """One snapshot's changes, in place. Deals pushed in an earlier revision are pushed again more
    often than others (the "pushed twice" risk needs some)."""
    _, quarter_end = quarter_of(as_of)
    for row in sorted(rows, key=lambda r: r["Id"]):
        if row["IsClosed"] == "true":
            continue
        close = dt.date.fromisoformat(row["CloseDate"])
        stage = _stage_index(row["StageName"])
        roll = rng.random()
        if roll < (0.5 if row["Id"] in pushed else 0.14):  # pushed out
            row["CloseDate"] = (max(close, as_of) + dt.timedelta(days=rng.randint(20, 75))).isoformat()
            pushed.add(row["Id"])
        elif roll < 0.22 and close > quarter_end:  # pulled into this quarter
            row["CloseDate"] = (quarter_end - dt.timedelta(days=rng.randint(1, 20))).isoformat()
        elif roll < 0.32:  # amount cut
            row["Amount"] = f"{int(float(row['Amount']) * rng.uniform(0.5, 0.85)) // 100 * 100:.2f}"
        elif roll < 0.38:  # amount raised
            row["Amount"] = f"{int(float(row['Amount']) * rng.uniform(1.1, 1.5)) // 100 * 100:.2f}"
        elif roll < 0.50 and stage < 5:  # one stage further
            _set_stage(row, stage + 1)
        elif roll < 0.56:  # won, closing now
            _set_stage(row, _WON)
            row["CloseDate"] = (as_of - dt.timedelta(days=rng.randint(0, 3 * (2 - min(revision, 2))))).isoformat()
        elif roll < 0.62 and close <= quarter_end:  # lost
            _set_stage(row, _LOST)
            row["CloseDate"] = as_of.isoformat()
        else:
            continue
        row["LastModifiedDate"] = row["SystemModstamp"] = f"{as_of.isoformat()}T10:00:00.000+0000"


def _new_deals(rows: list[dict], rng: random.Random, as_of: dt.date, revision: int) -> list[dict]:
    """Two deals created since the previous snapshot, closing this quarter (the waterfall's "created")."""
    _, quarter_end = quarter_of(as_of)
    templates = [r for r in sorted(rows, key=lambda r: r["Id"]) if r["IsClosed"] == "false"][:2]
    created = f"{as_of.isoformat()}T09:00:00.000+0000"
    new = []
    for k, template in enumerate(templates):
        row = dict(template, Id=sf_id("006", 990_000 + 10 * revision + k), Name=f"{template['Name']} (expansion)",
                   Amount=f"{rng.randint(20, 90) * 1000:.2f}", CreatedDate=created, LastModifiedDate=created,
                   SystemModstamp=created, LastActivityDate=as_of.isoformat(),
                   CloseDate=(quarter_end - dt.timedelta(days=rng.randint(0, 10))).isoformat())
        _set_stage(row, 1)
        new.append(row)
    return new


def revise_deals(out: Path, *, revision: int, seed: int, as_of: dt.date) -> int:
    """Rewrite `salesforce/Opportunity.csv` as it stands `revision` snapshots after the one written
    by `generate` (0: unchanged); returns how many deals differ from it."""
    path = out / "salesforce" / "Opportunity.csv"
    if revision <= 0 or not path.is_file():
        return 0
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    before = [dict(r) for r in rows]
    pushed: set[str] = set()
    for r in range(1, revision + 1):
        rng = random.Random(f"autonomos-demo-revision:{seed}:{r}")
        _revise(rows, rng, as_of, pushed, r)
        rows.extend(_new_deals(before, rng, as_of, r))
    _write(path, list(rows[0]) if rows else ["Id"], rows)
    return sum(1 for a, b in zip(before, rows, strict=False) if a != b) + len(rows) - len(before)
