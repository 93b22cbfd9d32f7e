"""Benchmark the history step: `manage.py bench_history --rows 1000000 --changed 0.01`.

In a benchmark tenant (created when missing, its DuckDB file and opportunity history wiped first),
writes N opportunity records straight into the DCL's source table (the read and consume stages are
not what is measured), with value maps for their stages and forecast categories, builds the real
per-record view (dcl/unify.py) and runs the history step (dcl/history/record.py) as a
materialization does, four times:

- `initial`: every entity is new (N versions to PostgreSQL);
- `no_change`: the same view again (no version; nothing written anywhere);
- `changed`: after `--changed` of the records moved: half of them a stage, a quarter an amount, an
  eighth deleted, an eighth new (deleted entities get a closing version);
- `no_change_after`: once more, with the history now holding two versions for some entities.

For each: versions decided, seconds to compare (the view's tracked columns and their hashes against
the open versions, in DuckDB), to commit them in DuckDB, to publish them to PostgreSQL, and the
total; plus the time DuckDB takes just to read the view's tracked columns (the floor of any
comparison over the whole view), the history table's size and the peak RSS. It prints figures; it
asserts nothing.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand
from django.db import connection as pg_connection
from django_tenants.utils import tenant_context

from aam.ingest.kinds import kind_for
from aam.ingest.schema import ontology_entities
from dcl import store
from dcl.history import HISTORY_MODELS, history_record, tracked_columns
from dcl.unify import DUCK_TYPES, Unifier, view_spec
from dcl.valuemap import STATUS_MAPPED, write_tables

from .ingest import bench_tenant

STAGES = {"Prospecting": "Prospecting", "Qualification": "Qualification", "Needs Analysis": "Needs Analysis",
          "Proposal/Price Quote": "Proposal/Price Quote", "Negotiation/Review": "Negotiation/Review",
          "Closed Won": "Closed Won", "Closed Lost": "Closed Lost"}
FORECAST = {"Pipeline": "pipeline", "Best Case": "best_case", "Commit": "commit", "Closed": "closed",
            "Omitted": "omitted"}
CONNECTION_ID = 1

FILL = """
INSERT INTO src_opportunity (_connection_id, _source_object, _source_id, _batch_id, _position, _deleted,
                             _ingested_at, _generation, id, account_id, name, stage, amount, currency,
                             probability, close_date, is_closed, is_won, owner_id, forecast_category, updated_at)
SELECT {connection}, 'Opportunity', '006' || lpad(upper(to_hex(i)), 15, '0'), 'bench', i, false, now(), 1,
       '006' || lpad(upper(to_hex(i)), 15, '0'), '001' || lpad(upper(to_hex(i % 5000)), 15, '0'),
       'Deal ' || i,
       (['Prospecting','Qualification','Needs Analysis','Proposal/Price Quote','Negotiation/Review','Closed Won',
         'Closed Lost'])[1 + (i * 3) % 7],
       round(((i * 7919) % 500000) / 3.0, 2)::DECIMAL(38, 10), 'USD', ((i * 13) % 101)::DECIMAL(38, 10),
       DATE '2024-01-01' + ((i * 31) % 900)::INT, (i * 3) % 7 >= 5, (i * 3) % 7 = 5,
       '005' || lpad(upper(to_hex(i % 200)), 15, '0'),
       (['Pipeline','Best Case','Commit','Closed','Omitted'])[1 + i % 5],
       TIMESTAMPTZ '2024-06-01 00:00:00+00' + to_seconds(i * 11 % 20000000)
FROM range({start}, {stop}) t(i)
"""


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def history_truncate() -> None:
    """Empty the current tenant's history tables: a benchmark that starts from no DuckDB file starts
    from no history either (else its first materialization deletes every entity the history holds)."""
    with pg_connection.cursor() as cur:
        for model in HISTORY_MODELS.values():
            cur.execute(f"TRUNCATE {store.quote(model._meta.db_table)}")


class Command(BaseCommand):
    help = ("Measure the history step of a materialization (DuckDB compare, commit, PostgreSQL publish) "
            "on N opportunities.")

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--changed", type=float, default=0.01, help="share of the records that move (0.01: 1%%)")
        parser.add_argument("--tenant", default="bench")

    def handle(self, *args, **opts):
        rows, share = max(1, opts["rows"]), min(max(opts["changed"], 0.0), 1.0)
        tenant = bench_tenant(opts["tenant"])
        with tenant_context(tenant):
            report = self._run(tenant, rows, share)
        self.stdout.write(json.dumps(report, indent=2))

    def _run(self, tenant, rows: int, share: float) -> dict:
        entity = "opportunity"
        model = HISTORY_MODELS[entity]
        shutil.rmtree(store.tenant_dir(tenant), ignore_errors=True)
        history_truncate()
        ontology = ontology_entities()
        spec = view_spec(entity, {f: kind_for(t) for f, t in ontology[entity].items()})
        report: dict = {"rows": rows, "changed_share": share, "tracked_columns": list(tracked_columns(entity))}
        with store.WriterLock(tenant):
            con = store.connect(tenant)
            try:
                started = time.monotonic()
                self._fill(con, spec, 0, rows)
                report["fill_seconds"] = round(time.monotonic() - started, 2)
                unifier = self._unifier(con, spec)
                unifier.build(entity)
                started = time.monotonic()
                cols = ", ".join(store.quote(c) for c in tracked_columns(entity) if c in spec.fields)
                con.execute(f"SELECT count(*), count(DISTINCT hash(unified_id, {cols})) FROM view_{entity}").fetchone()
                report["view_read_seconds"] = round(time.monotonic() - started, 3)
                report["initial"] = self._step(con, entity, spec)
                report["no_change"] = self._step(con, entity, spec)
                report["changes"] = self._change(con, spec, rows, share)
                unifier.build(entity)
                report["changed"] = self._step(con, entity, spec)
                report["no_change_after"] = self._step(con, entity, spec)
            finally:
                con.close()
        with pg_connection.cursor() as cur:
            table = model._meta.db_table
            cur.execute("SELECT count(*), pg_total_relation_size(%s) FROM " + store.quote(table), [table])
            versions, size = cur.fetchone()
        report["history_versions"] = versions
        report["history_table_mb"] = round(size / 2**20, 1)
        report["peak_rss_mb"] = _peak_rss_mb()
        report["load_average"] = [round(x, 2) for x in os.getloadavg()]
        return report

    def _step(self, con, entity: str, spec) -> dict:
        started = time.monotonic()
        step = history_record(con, entity=entity, spec=spec, at=datetime.now(UTC))
        return {**step.as_dict(), "total_seconds": round(time.monotonic() - started, 3)}

    def _fill(self, con, spec, start: int, stop: int) -> None:
        if start == 0:
            con.execute("DROP TABLE IF EXISTS src_opportunity")
            defs = [f"{store.quote(n)} {t}" for n, t in store.SYSTEM_COLUMNS.items()]
            defs += [f"{store.quote(n)} {DUCK_TYPES[k]}" for n, k in spec.fields.items()
                     if n in ("id", "account_id", "name", "stage", "amount", "currency", "probability", "close_date",
                              "is_closed", "is_won", "owner_id", "forecast_category", "updated_at")]
            con.execute(f"CREATE TABLE src_opportunity ({', '.join(defs)})")
        con.execute(FILL.format(connection=CONNECTION_ID, start=int(start), stop=int(stop)))

    def _unifier(self, con, spec) -> Unifier:
        maps = [(CONNECTION_ID, "Opportunity", "opportunity", "stage", raw, canonical, raw, STATUS_MAPPED)
                for raw, canonical in STAGES.items()]
        maps += [(CONNECTION_ID, "Opportunity", "opportunity", "forecast_category", raw, canonical, raw, STATUS_MAPPED)
                 for raw, canonical in FORECAST.items()]
        maps += [(CONNECTION_ID, "Opportunity", "opportunity", "currency", "USD", "USD", "USD", STATUS_MAPPED)]
        write_tables(con, maps, [], {CONNECTION_ID: "USD"}, [])
        return Unifier(con, {"opportunity": spec}, {CONNECTION_ID: "salesforce"})

    def _change(self, con, spec, rows: int, share: float) -> dict:
        """Move `share` of the records: stages, amounts, deletes (tombstones) and new records."""
        moved = int(rows * share)
        stage, amount, deleted = moved // 2, moved // 4, moved // 8
        added = moved - stage - amount - deleted
        step = max(1, rows // max(1, moved))
        con.execute(f"""
            UPDATE src_opportunity SET stage = CASE WHEN stage = 'Closed Won' THEN 'Negotiation/Review'
                                                    ELSE 'Closed Won' END, updated_at = now()
            WHERE _position % {step} = 0 AND _position // {step} < {stage}""")
        con.execute(f"""
            UPDATE src_opportunity SET amount = amount + 1, updated_at = now()
            WHERE _position % {step} = 1 AND _position // {step} < {amount}""")
        con.execute(f"""
            UPDATE src_opportunity SET _deleted = true
            WHERE _position % {step} = 2 AND _position // {step} < {deleted}""")
        self._fill(con, spec, rows, rows + added)
        return {"stage": stage, "amount": amount, "deleted": deleted, "new": added}
