"""`manage.py bench_er --rows 1000000`: issue #19's speed targets for entity resolution, on synthetic
contacts with known duplicates written straight into a tenant's DuckDB store.

- the generator (`synthetic_contacts`, seeded: the same arguments give the same records): people
  with first and last names drawn by their frequency (Faker's en_US lists: 690 first names, 1,000
  surnames), a street address, and a locality (city, state, postal code) out of a few thousand;
  about 20% of the people appear twice or three times (`DUPLICATES`), as sources write them: typos,
  first and last name swapped, an initial for the first name, abbreviated street types, a changed
  house number or postal code digit, missing values, capitals; every record sits in one of
  `--sources` connections (a person's copies may share one: a source has duplicates too);
- the harness: a fresh store (the benchmark tenant's DuckDB file removed), the first N records in
  `src_contact` as the consumer would have written them (one transaction, `_txn`), then the
  engine's full resolve, timed; then `--added` (1,000) more records in a later transaction and the
  incremental resolve, timed. It prints both figures, the peak RSS during each (sampled: the
  generator's objects raise the process's lifetime peak, printed too), and pairwise precision,
  recall and F1 of the engine's `_er_contact` on the synthetic truth.

With `--entity opportunity`, deals in two systems with known copies instead (benchmarks/er_bench_deals.py).

The engine is called in one place, `resolve_contacts`. Targets (issue #19): 1,000,000 contacts on 2
cores in at most 2 minutes, 1,000 new records in at most 5 s. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import shutil
import threading
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from dcl import store

from .er_scoring import PairwiseScore
from .ingest import bench_tenant

ENTITY = "contact"
SOURCE_OBJECT = "contacts"
TEXT_FIELDS = ("first_name", "last_name", "street", "city", "state", "postal_code")
# copies of one person: 80% once, 13% twice, 7% three times (about 20% duplicated, 1.27 records each)
DUPLICATES = (0.80, 0.13, 0.07)
PEOPLE_PER_LOCALITY = 250  # a locality (city, state, postal code) for about this many people
_ABBREVIATIONS = {"Street": "St", "Avenue": "Ave", "Road": "Rd", "Drive": "Dr", "Lane": "Ln", "Court": "Ct",
                  "Place": "Pl", "Boulevard": "Blvd", "Terrace": "Tce", "Crescent": "Cres"}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _word_lists() -> dict:
    """Names and address words with their frequencies (Faker ships them; factory-boy brings Faker)."""
    try:
        from faker.providers.address.en_US import Provider as Address
        from faker.providers.person.en_US import Provider as Person
    except ImportError as exc:  # a production install has no Faker: the benchmark is a development tool
        raise CommandError("bench_er needs Faker (pip install -r requirements-dev.txt)") from exc
    first = dict(Person.first_names_female) | dict(Person.first_names_male)
    last = dict(Person.last_names)
    return {
        "first": (list(first), np.array(list(first.values()), dtype=float)),
        "last": (list(last), np.array(list(last.values()), dtype=float)),
        "street_types": [*sorted(_ABBREVIATIONS), "Way", "Close", "Parade", "Circuit"],
        "city_prefixes": list(Address.city_prefixes),
        "city_suffixes": list(Address.city_suffixes),
        "states": list(Address.states_abbr),
    }


def _weighted(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    return rng.choice(len(weights), size=n, p=weights / weights.sum())


def _localities(rng: np.random.Generator, count: int, words: dict) -> pa.Table:
    lasts, _ = words["last"]
    prefix = rng.integers(0, len(words["city_prefixes"]) + 3, count)  # a few without a prefix
    stem = rng.integers(0, len(lasts), count)
    suffix = rng.integers(0, len(words["city_suffixes"]), count)
    cities = [
        (f"{words['city_prefixes'][p]} " if p < len(words["city_prefixes"]) else "")
        + lasts[s] + words["city_suffixes"][x]
        for p, s, x in zip(prefix.tolist(), stem.tolist(), suffix.tolist(), strict=True)
    ]
    postcodes = rng.choice(np.arange(1000, 99999), size=count, replace=False)
    states = rng.integers(0, len(words["states"]), count)
    return pa.table({
        "city": cities,
        "state": [words["states"][s] for s in states.tolist()],
        "postal_code": [f"{p:05d}" for p in postcodes.tolist()],
    })


def _typo(r: random.Random, text: str) -> str:
    """One keying error: a letter dropped, added, replaced, or two swapped."""
    if len(text) < 3:
        return text
    i = r.randrange(1, len(text) - 1)
    kind = r.random()
    if kind < 0.3:
        return text[:i] + text[i + 1:]
    if kind < 0.5:
        return text[:i] + r.choice(_LETTERS) + text[i:]
    if kind < 0.8:
        return text[:i] + r.choice(_LETTERS) + text[i + 1:]
    return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]


def _copy_of(r: random.Random, rec: dict) -> dict:
    """A person as another source (or another entry in the same one) writes them."""
    rec = dict(rec)
    if rec["first_name"] and r.random() < 0.25:
        rec["first_name"] = _typo(r, rec["first_name"])
    if rec["last_name"] and r.random() < 0.25:
        rec["last_name"] = _typo(r, rec["last_name"])
    if r.random() < 0.04:
        rec["first_name"], rec["last_name"] = rec["last_name"], rec["first_name"]
    elif rec["first_name"] and r.random() < 0.05:
        rec["first_name"] = rec["first_name"][0]
    if rec["street"]:
        number, _, rest = rec["street"].partition(" ")
        if r.random() < 0.12:
            number = str(int(number) + r.choice((-2, -1, 1, 2, 10))) if number.isdigit() else number
        words = rest.split(" ")
        if r.random() < 0.3 and words[-1] in _ABBREVIATIONS:
            words[-1] = _ABBREVIATIONS[words[-1]]
        if r.random() < 0.1:
            words[0] = _typo(r, words[0])
        rec["street"] = f"{number} {' '.join(words)}"
    if rec["city"] and r.random() < 0.08:
        rec["city"] = _typo(r, rec["city"])
    if rec["postal_code"] and r.random() < 0.06:
        i = r.randrange(len(rec["postal_code"]))
        rec["postal_code"] = rec["postal_code"][:i] + str(r.randrange(10)) + rec["postal_code"][i + 1:]
    for name, share in (("first_name", 0.06), ("last_name", 0.02), ("street", 0.1), ("city", 0.08),
                        ("state", 0.05), ("postal_code", 0.08)):
        if r.random() < share:
            rec[name] = None
    if r.random() < 0.08:
        rec = {k: v.upper() if isinstance(v, str) else v for k, v in rec.items()}
    return rec


@dataclass
class Synthetic:
    """The records (connection id, source id, person id and the text fields), in the order they arrive."""

    table: pa.Table

    @property
    def rows(self) -> int:
        return self.table.num_rows


def synthetic_contacts(rows: int, *, seed: int = 19, sources: int = 3) -> Synthetic:
    """`rows` contact records with known duplicates (deterministic for the same arguments)."""
    if rows < 1 or sources < 1:
        raise ValueError("rows and sources must be at least 1")
    rng = np.random.default_rng(seed)
    words = _word_lists()
    people = math.ceil(1.05 * rows / sum((i + 1) * p for i, p in enumerate(DUPLICATES))) + 16  # with room
    copies = 1 + rng.choice(len(DUPLICATES), size=people, p=DUPLICATES)
    people = int(np.searchsorted(np.cumsum(copies), rows)) + 1  # just enough people for `rows` records
    copies = copies[:people]
    firsts, first_w = words["first"]
    lasts, last_w = words["last"]
    localities = _localities(rng, max(1, people // PEOPLE_PER_LOCALITY), words)
    where = rng.integers(0, localities.num_rows, people)
    numbers = np.minimum(rng.geometric(1 / 80, people), 9999)
    street_names = rng.integers(0, len(lasts), people)
    street_types = rng.integers(0, len(words["street_types"]), people)
    base = {
        "first_name": pa.array(firsts).take(pa.array(_weighted(rng, people, first_w))).to_pylist(),
        "last_name": pa.array(lasts).take(pa.array(_weighted(rng, people, last_w))).to_pylist(),
        "street": [f"{n} {lasts[s]} {words['street_types'][t]}"
                   for n, s, t in zip(numbers.tolist(), street_names.tolist(), street_types.tolist(), strict=True)],
        **{c: localities[c].take(pa.array(where)).to_pylist() for c in ("city", "state", "postal_code")},
    }
    person = np.repeat(np.arange(people), copies)[:rows]
    first_copy = np.ones(len(person), dtype=bool)
    first_copy[1:] = person[1:] != person[:-1]
    order = rng.permutation(rows)  # copies of a person arrive at different times
    connection = rng.integers(1, sources + 1, rows)
    r = random.Random(seed)
    columns: dict[str, list] = {c: [None] * rows for c in TEXT_FIELDS}
    for at, i in enumerate(order.tolist()):
        p = int(person[i])
        rec = {c: base[c][p] for c in TEXT_FIELDS}
        if not first_copy[i]:
            rec = _copy_of(r, rec)
        elif r.random() < 0.03:  # an original with a gap too
            rec[r.choice(TEXT_FIELDS)] = None
        for c in TEXT_FIELDS:
            columns[c][at] = rec[c]
    person_in_order = person[order]
    table = pa.table({
        "_connection_id": pa.array(connection, pa.int64()),
        "_source_id": pa.array([f"p{i:08d}" for i in range(rows)]),
        "person_id": pa.array(person_in_order, pa.int64()),
        **{c: pa.array(columns[c], pa.string()) for c in TEXT_FIELDS},
    })
    return Synthetic(table)


# --- the store and the engine ----------------------------------------------------------------------------


def fill(con, records: pa.Table, *, entity: str = ENTITY, schema: pa.Schema | None = None,
         fields: str = ", ".join(TEXT_FIELDS), source_object: str = SOURCE_OBJECT) -> int:
    """Write `records` into `src_<entity>` as one consumer transaction would (`schema`: the source table's
    field columns, all text by default; `fields`: the SELECT list of them over `records`); returns its `_txn`."""
    schema = schema or pa.schema([(c, pa.string()) for c in ("id", *TEXT_FIELDS)])
    table, _ = store.source_table_ensure(con, entity, schema)
    con.execute("BEGIN")
    try:
        txn = store.txn_next(con)
        con.register("_bench_er_in", records)
        con.execute(f"""
            INSERT INTO {table} BY NAME
            SELECT _connection_id, '{source_object}' AS _source_object, _source_id, 'bench_er' AS _batch_id,
                   row_number() OVER () AS _position, false AS _deleted, now() AS _ingested_at, 1 AS _generation,
                   {txn} AS _txn, _source_id AS id, {fields}
            FROM _bench_er_in""")
        con.unregister("_bench_er_in")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return txn


def resolve_contacts(con, *, full: bool, entity: str = ENTITY):
    """The one call into the engine (dcl/resolution/engine.py): it writes `_er_<entity>`
    (_connection_id, _source_id, unified_id, probability) into the store."""
    try:
        from dcl.resolution.engine import resolve
    except ImportError as exc:
        raise CommandError(f"the resolution engine is not there yet (dcl.resolution.engine): {exc}") from exc
    if full:
        return resolve(con, entity, constraints=[], full=True)
    return resolve(con, entity, constraints=[])


def pairwise_score_sql(con, truth: str, predicted: str) -> PairwiseScore:
    """benchmarks.er_scoring.pairwise_score's counts over two DuckDB relations: `truth`
    (_connection_id, _source_id, person_id) and `predicted` (_connection_id, _source_id, unified_id);
    a record of the truth missing from `predicted` is a singleton."""
    records, entities, missing = con.execute(f"""
        SELECT count(*), count(DISTINCT t.person_id), count(*) FILTER (WHERE p.unified_id IS NULL)
        FROM {truth} t LEFT JOIN {predicted} p USING (_connection_id, _source_id)""").fetchone()
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _bench_er_joined AS
        SELECT t.person_id, coalesce(p.unified_id, 'missing:' || t._connection_id || ':' || t._source_id) AS cluster
        FROM {truth} t LEFT JOIN {predicted} p USING (_connection_id, _source_id)""")
    pairs = "sum(n * (n - 1) // 2)::BIGINT"
    true_pairs = con.execute(f"SELECT {pairs} FROM (SELECT count(*) n FROM _bench_er_joined GROUP BY person_id)")
    true_pairs = true_pairs.fetchone()[0] or 0
    clusters, predicted_pairs = con.execute(
        f"SELECT count(*), {pairs} FROM (SELECT count(*) n FROM _bench_er_joined GROUP BY cluster)").fetchone()
    tp = con.execute(
        f"SELECT {pairs} FROM (SELECT count(*) n FROM _bench_er_joined GROUP BY person_id, cluster)").fetchone()[0]
    con.execute("DROP TABLE _bench_er_joined")
    return PairwiseScore(records=records, entities=entities, clusters=clusters, true_pairs=true_pairs,
                         predicted_pairs=predicted_pairs or 0, true_positives=tp or 0, missing=missing)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssPeak:
    """The highest RSS of this process while the block runs, sampled every 20 ms: the generator's
    Python objects raise the process's lifetime peak (ru_maxrss) above what the engine needs."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak_mb = max(self.peak_mb, _rss_mb())
            if self._stop.wait(0.02):
                return

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = round(max(self.peak_mb, _rss_mb()), 1)


def _report_of(result) -> dict | str | None:
    """The engine's report, as JSON can carry it."""
    if result is None:
        return None
    for attr in ("as_dict", "to_dict"):
        if hasattr(result, attr):
            return getattr(result, attr)()
    return result if isinstance(result, dict) else str(result)


class Command(BaseCommand):
    help = ("Time entity resolution on N synthetic contacts with known duplicates: a full resolve, then an "
            "incremental one after 1,000 new records; prints both, peak RSS and pairwise P/R/F1.")
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--added", type=int, default=1_000, help="records added before the incremental resolve")
        parser.add_argument("--sources", type=int, default=3)
        parser.add_argument("--seed", type=int, default=19)
        parser.add_argument("--tenant", default="bench")
        parser.add_argument("--entity", choices=("contact", "opportunity"), default="contact",
                            help="contacts (default), or deals in two systems (benchmarks/er_bench_deals.py)")

    def handle(self, *args, **opts):
        rows, added = opts["rows"], max(0, opts["added"])
        if rows < 1:
            raise CommandError("--rows must be at least 1")
        tenant = bench_tenant(opts["tenant"])
        started = time.monotonic()
        entity = opts["entity"]
        if entity == "opportunity":
            from .er_bench_deals import synthetic_deals

            data = synthetic_deals(rows + added, seed=opts["seed"])
        else:
            data = synthetic_contacts(rows + added, seed=opts["seed"], sources=max(1, opts["sources"])).table
        report: dict = {"entity": entity, "rows": rows, "added": added, "sources": opts["sources"],
                        "seed": opts["seed"],
                        "generate_seconds": round(time.monotonic() - started, 2),
                        "duckdb_threads": settings.DCL_DUCKDB_THREADS, "cpus": os.cpu_count()}
        with tenant_context(tenant):
            report.update(self._run(tenant, data, rows, entity))
        report["load_average"] = [round(x, 2) for x in os.getloadavg()]
        self.stdout.write(json.dumps(report, indent=2, default=str))

    def _run(self, tenant, data: pa.Table, rows: int, entity: str) -> dict:
        out: dict = {}
        label = "person_id" if entity == "contact" else "truth"
        load = fill
        if entity == "opportunity":
            from .er_bench_deals import accounts_link
            from .er_bench_deals import fill as load
        shutil.rmtree(store.tenant_dir(tenant), ignore_errors=True)
        with store.WriterLock(tenant):
            con = store.connect(tenant)
            try:
                started = time.monotonic()
                if entity == "opportunity":
                    accounts_link(con, data)
                load(con, data.slice(0, rows).drop_columns([label]))
                out["fill_seconds"] = round(time.monotonic() - started, 2)
                out["rss_before_resolve_mb"] = round(_rss_mb(), 1)
                started = time.monotonic()
                with RssPeak() as peak:
                    out["full_report"] = _report_of(resolve_contacts(con, full=True, entity=entity))
                out["full_seconds"] = round(time.monotonic() - started, 2)
                out["full_peak_rss_mb"] = peak.peak_mb
                if data.num_rows > rows:
                    load(con, data.slice(rows).drop_columns([label]))
                    started = time.monotonic()
                    with RssPeak() as peak:
                        out["incremental_report"] = _report_of(resolve_contacts(con, full=False, entity=entity))
                    out["incremental_seconds"] = round(time.monotonic() - started, 2)
                    out["incremental_peak_rss_mb"] = peak.peak_mb
                out["process_peak_rss_mb"] = _peak_rss_mb()  # the generator's objects included
                con.register("_bench_er_truth", data.select(["_connection_id", "_source_id", label])
                             .rename_columns(["_connection_id", "_source_id", "person_id"]))
                score = pairwise_score_sql(con, "_bench_er_truth", f"_er_{entity}")
                con.unregister("_bench_er_truth")
                out["pairwise"] = {k: v for k, v in score.as_dict().items()
                                   if k not in ("false_positives", "false_negatives")}
            finally:
                con.close()
        return out
