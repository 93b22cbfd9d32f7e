"""Entity resolution's engine on a store of its own (dcl/resolution/engine.py): blocking, comparisons,
training, clusters, stable ids, people's decisions, the chaining guard and incremental runs."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pytest

from dcl.resolution import engine, features

COLUMNS = ("first_name", "last_name", "email", "phone", "street", "city", "postal_code", "state")


@dataclass(frozen=True)
class C:
    kind: str
    left: tuple[int, str]
    right: tuple[int, str]


class Store:
    """A tenant store reduced to what the engine reads: `src_contact` and the transaction counter."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("CREATE TABLE _dcl_txn (n BIGINT NOT NULL)")
        self.con.execute("INSERT INTO _dcl_txn VALUES (1)")
        self.con.execute("CREATE TABLE src_contact (_connection_id BIGINT, _source_id VARCHAR, _deleted BOOLEAN, "
                         "_txn BIGINT, " + ", ".join(f"{c} VARCHAR" for c in COLUMNS) + ")")

    def txn(self) -> int:
        return int(self.con.execute("UPDATE _dcl_txn SET n = n + 1 RETURNING n").fetchone()[0])

    def put(self, rows: list[dict]) -> None:
        """Insert or replace records (each a dict with `conn`, `id` and fields), in a new transaction."""
        txn = self.txn()
        table = pa.table({
            "_connection_id": pa.array([r["conn"] for r in rows], pa.int64()),
            "_source_id": pa.array([r["id"] for r in rows], pa.string()),
            "_deleted": pa.array([bool(r.get("deleted")) for r in rows]),
            "_txn": pa.array([txn] * len(rows), pa.int64()),
            **{c: pa.array([r.get(c) for r in rows], pa.string()) for c in COLUMNS},
        })
        self.con.register("_in", table)
        self.con.execute("DELETE FROM src_contact USING _in WHERE src_contact._connection_id = _in._connection_id "
                         "AND src_contact._source_id = _in._source_id")
        self.con.execute("INSERT INTO src_contact SELECT * FROM _in")
        self.con.unregister("_in")

    def ids(self) -> dict[str, str]:
        return dict(self.con.execute("SELECT uid, unified_id FROM _er_contact").fetchall())


FIRST = ["james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda", "david", "elizabeth",
         "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "carlos", "karen",
         "wei", "aisha", "olga", "kenji", "fatima", "lars", "ingrid", "pedro", "amara", "yusuf"]
LAST = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
        "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin",
        "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson"]
SUFFIXES = ["", "son", "er", "ley", "ford", "man", "ton", "well"]
STREETS = ["main", "oak", "pine", "maple", "cedar", "elm", "view", "lake", "hill", "park", "river", "sunset"]
CITIES = [("springfield", "62701", "il"), ("riverside", "92501", "ca"), ("franklin", "37064", "tn"),
          ("greenville", "29601", "sc"), ("bristol", "06010", "ct"), ("clinton", "52732", "ia"),
          ("fairview", "97024", "or"), ("salem", "97301", "or"), ("madison", "53703", "wi")]


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 4:
        return s
    i = rng.randrange(1, len(s) - 1)
    return s[:i] + s[i + 1] + s[i] + s[i + 2:] if rng.random() < 0.5 else s[:i] + s[i + 1:]


def people(n: int, seed: int = 7) -> tuple[list[dict], dict[str, int]]:
    """`n` people across two connections, a third of them twice (typos, another e-mail, a missing field)."""
    rng = random.Random(seed)
    rows, truth = [], {}
    for p in range(n):
        city, zipc, state = rng.choice(CITIES)
        zipc = f"{zipc[:3]}{rng.randint(10, 99)}"
        base = {"first_name": rng.choice(FIRST), "last_name": rng.choice(LAST) + rng.choice(SUFFIXES),
                "street": f"{rng.randint(1, 999)} {rng.choice(STREETS)} st", "city": city, "postal_code": zipc,
                "state": state, "phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"}
        base["email"] = f"{base['first_name']}.{base['last_name']}{p}@corp{p % 17}.com"
        rows.append({"conn": 1, "id": f"a{p}", **base})
        truth[f"1:a{p}"] = p
        if p % 3 == 0:
            dup = dict(base)
            dup["last_name"] = _typo(rng, dup["last_name"]) if rng.random() < 0.5 else dup["last_name"]
            dup["street"] = _typo(rng, dup["street"]) if rng.random() < 0.5 else dup["street"]
            dup["email"] = f"{dup['first_name'][0]}{dup['last_name']}@home{p}.net"
            dup[rng.choice(["phone", "city", "street"])] = None
            rows.append({"conn": 2, "id": f"b{p}", **dup})
            truth[f"2:b{p}"] = p
    return rows, truth


def pairwise_f1(ids: dict[str, str], truth: dict[str, int]) -> tuple[float, float, float]:
    def pairs(assign):
        groups = defaultdict(list)
        for k, v in assign.items():
            groups[v].append(k)
        return {p for g in groups.values() for p in itertools.combinations(sorted(g), 2)}

    predicted, true = pairs(ids), pairs(truth)
    tp = len(predicted & true)
    precision, recall = tp / max(len(predicted), 1), tp / max(len(true), 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


@pytest.fixture
def crowd() -> tuple[Store, dict[str, int]]:
    s = Store()
    rows, truth = people(1500)
    s.put(rows)
    return s, truth


def test_full_run_finds_the_duplicates_and_trains_a_model(crowd):
    s, truth = crowd
    report = engine.resolve(s.con, "contact")
    assert report.mode == "full" and report.trained and report.model_version == 1
    precision, recall, f1 = pairwise_f1(s.ids(), truth)
    assert precision >= 0.98 and recall >= 0.95, (precision, recall)
    # lineage: a merged record carries the probability that joined it
    probs = [p for (p,) in s.con.execute(
        "SELECT probability FROM _er_contact WHERE unified_id IN "
        "(SELECT unified_id FROM _er_contact GROUP BY 1 HAVING count(*) > 1)").fetchall()]
    assert probs and all(p is not None and engine.THRESHOLDS["contact"][0] <= p <= 1 for p in probs)
    model = s.con.execute("SELECT version, records FROM _er_model WHERE entity = 'contact'").fetchone()
    assert model == (1, len(truth))


def test_ids_stay_across_reruns_retraining_and_growth(crowd):
    s, _ = crowd
    engine.resolve(s.con, "contact")
    before = s.ids()
    engine.resolve(s.con, "contact", full=True)  # retrained
    assert s.ids() == before
    assert s.con.execute("SELECT version FROM _er_model").fetchone()[0] == 2
    # a third copy of a merged person joins its entity, which keeps its id
    merged = s.con.execute("SELECT unified_id, min(uid) FROM _er_contact GROUP BY 1 HAVING count(*) = 2 "
                           "ORDER BY 1 LIMIT 1").fetchone()
    row = s.con.execute("SELECT * EXCLUDE (_connection_id, _source_id, _deleted, _txn) FROM src_contact "
                        "WHERE _connection_id || ':' || _source_id = ?", [merged[1]]).fetchone()
    s.put([{"conn": 3, "id": "z1", **dict(zip(COLUMNS, row, strict=True))}])
    report = engine.resolve(s.con, "contact")
    assert report.mode == "incremental" and report.scored == 1
    after = s.ids()
    assert after["3:z1"] == merged[0]
    assert {k: v for k, v in after.items() if k != "3:z1"} == before


def test_incremental_equals_a_full_run(crowd):
    s, truth = crowd
    engine.resolve(s.con, "contact")
    rows, _ = people(60, seed=99)
    for r in rows:
        r["id"] = "n" + r["id"]
    s.put(rows)
    # and one record deleted, one changed
    s.put([{"conn": 1, "id": "a3", "deleted": True}])
    report = engine.resolve(s.con, "contact")
    assert report.mode == "incremental" and report.scored == len(rows)  # the deleted one has nothing to score
    incremental = s.ids()
    assert "1:a3" not in incremental
    engine.resolve(s.con, "contact", full=True)
    full = s.ids()
    groups = lambda ids: {frozenset(k for k, v in ids.items() if v == u) for u in set(ids.values())}  # noqa: E731
    assert groups(incremental) == groups(full)


def test_nothing_changed_scores_nothing(crowd):
    s, _ = crowd
    engine.resolve(s.con, "contact")
    report = engine.resolve(s.con, "contact")
    assert report.mode == "unchanged" and report.scored == 0


def test_decisions_win_over_the_model_and_ids_follow(crowd):
    s, _ = crowd
    engine.resolve(s.con, "contact")
    ids = s.ids()
    pair = s.con.execute("SELECT min(uid), max(uid), unified_id FROM _er_contact GROUP BY unified_id "
                         "HAVING count(*) = 2 ORDER BY unified_id LIMIT 1").fetchone()
    loner_a, loner_b = "1:a1", "1:a2"
    assert ids[loner_a] != ids[loner_b]
    left = tuple(pair[0].split(":"))
    right = tuple(pair[1].split(":"))
    decisions = [C("cannot_link", (int(left[0]), left[1]), (int(right[0]), right[1])),
                 C("must_link", (1, "a1"), (1, "a2"))]
    report = engine.resolve(s.con, "contact", constraints=decisions)
    after = s.ids()
    assert after[pair[0]] != after[pair[1]]  # split: one part keeps the id, the other gets a new one
    assert pair[2] in (after[pair[0]], after[pair[1]])
    assert after[loner_a] == after[loner_b]  # merged by hand
    # the absorbed id points at the survivor
    survivor = after[loner_a]
    absorbed = ids[loner_b] if survivor == ids[loner_a] else ids[loner_a]
    assert report.redirects == {absorbed: survivor}
    # the decisions survive retraining
    engine.resolve(s.con, "contact", constraints=decisions, full=True)
    assert s.ids() == after


def test_cannot_link_inside_a_chain_keeps_the_strongest_links():
    s = Store()
    same = {"first_name": "maria", "last_name": "lopez", "street": "12 oak st", "city": "salem",
            "postal_code": "97301", "state": "or", "phone": "+1 555 201 3344"}
    s.put([{"conn": 1, "id": str(i), **same, "email": f"m{i}@x{i}.com"} for i in range(3)]
          + [{"conn": 1, "id": f"o{i}", "first_name": FIRST[i], "last_name": LAST[i], "city": CITIES[i % 9][0],
              "postal_code": CITIES[i % 9][1], "street": f"{i} elm st", "email": f"o{i}@y.com"} for i in range(30)])
    engine.resolve(s.con, "contact")
    assert len({s.ids()[f"1:{i}"] for i in range(3)}) == 1
    engine.resolve(s.con, "contact", constraints=[C("cannot_link", (1, "0"), (1, "2"))])
    ids = s.ids()
    assert ids["1:0"] != ids["1:2"]
    assert ids["1:1"] in (ids["1:0"], ids["1:2"])


def test_a_chain_larger_than_the_cap_is_held(monkeypatch):
    """One record agreeing with many (a shared placeholder person) never makes a giant entity."""
    monkeypatch.setattr(engine, "MAX_CLUSTER", 5)
    s = Store()
    same = {"first_name": "test", "last_name": "user", "street": "1 main st", "city": "salem", "postal_code": "97301",
            "state": "or"}
    rows = [{"conn": 1, "id": f"t{i}", **same, "first_name": "jo", "last_name": "doe"} for i in range(8)]
    rows += [{"conn": 1, "id": f"o{i}", "first_name": FIRST[i], "last_name": LAST[i], "city": CITIES[i % 9][0],
              "postal_code": CITIES[i % 9][1], "street": f"{i} elm st"} for i in range(30)]
    s.put(rows)
    report = engine.resolve(s.con, "contact", constraints=[
        C("must_link", (1, f"t{i}"), (1, f"t{i + 1}")) for i in range(7)])
    ids = s.ids()
    assert report.held == [8]
    assert len({ids[f"1:t{i}"] for i in range(8)}) == 8
    # held for review: the model's links between them are review items, the decided pairs are not
    decided = {((1, f"t{i}"), (1, f"t{i + 1}")) for i in range(7)}
    pairs = {(r["left"], r["right"]) for r in report.review}
    assert pairs and not pairs & decided
    assert all(a[1].startswith("t") and b[1].startswith("t") for a, b in pairs)
    assert all(r["probability"] >= engine.THRESHOLDS["contact"][0] for r in report.review)


def test_bad_and_thin_input_gives_clear_outcomes():
    s = Store()
    # all-empty and null-like names, role e-mails: nothing to link on, nothing merged
    s.put([{"conn": 1, "id": str(i), "first_name": v, "last_name": "", "email": "info@acme.com"}
           for i, v in enumerate(["", "N/A", "unknown", None, "-"])])
    report = engine.resolve(s.con, "contact")
    assert report.clusters == 5 and report.merged_records == 0 and report.fallback
    # a source with no live records
    empty = Store()
    report = engine.resolve(empty.con, "contact")
    assert report.records == 0 and report.clusters == 0
    # only e-mails: exact e-mail links, as before entity resolution
    only = Store()
    only.put([{"conn": 1, "id": "1", "email": "A@b.com"}, {"conn": 2, "id": "2", "email": "a@b.com "},
              {"conn": 2, "id": "3", "email": "c@b.com"}])
    engine.resolve(only.con, "contact")
    ids = only.ids()
    assert ids["1:1"] == ids["2:2"] != ids["2:3"]


def test_features_clean_and_guard():
    s = Store()
    rows = [{"conn": 1, "id": "1", "first_name": " José ", "last_name": "O'Brien", "email": "Sales@Acme.com",
             "phone": "(415) 555-0100", "postal_code": "94 105"},
            {"conn": 1, "id": "2", "first_name": "N/A", "last_name": "test", "email": "x@example.com",
             "phone": "+1 415 555 0100"}]
    rows += [{"conn": 2, "id": f"s{i}", "email": "shared@inbox.io"} for i in range(features.OVER_COMMON + 1)]
    s.put(rows)
    cols = features.build(s.con, "contact")
    features.over_common(s.con, "contact", cols)
    got = {r[0]: r[1:] for r in s.con.execute(
        "SELECT uid, first_name, last_name, email, phone, postal_code FROM _er_feat_contact").fetchall()}
    assert got["1:1"] == ("jose", "obrien", None, "+14155550100", "94105")
    assert got["1:2"] == (None, None, None, "+14155550100", None)
    assert got["2:s0"][2] is None  # an inbox shared by more than OVER_COMMON records links nobody


def test_blocking_counts_and_budget(monkeypatch):
    s = Store()
    s.put([{"conn": 1, "id": str(i), "first_name": "ann" if i < 6 else f"name{chr(97 + i)}",
            "last_name": "lee" if i % 2 else "ray", "postal_code": "1"} for i in range(10)])
    features.build(s.con, "contact")
    table = "_er_feat_contact"
    assert engine._rule_pairs(s.con, table, [("first_name", "first_name")]) == 15  # six "ann": 6*5/2
    assert engine._rule_pairs(s.con, table, [("first_name", "first_name"), ("last_name", "last_name")]) == 6
    assert engine._rule_pairs(s.con, table, [("postal_code", "postal_code")]) == 45
    design = engine._design("contact", ["first_name", "last_name", "postal_code", "full_name"], 10)
    monkeypatch.setattr(engine, "BLOCK_MIN_BUDGET", 20)
    monkeypatch.setattr(engine, "BLOCK_PER_RECORD", 1)
    monkeypatch.setattr(engine, "BLOCK_MIN_TOTAL", 1000)
    kept = engine._blocking_within_budget(s.con, table, design, 10)
    assert [("postal_code", "postal_code")] not in kept  # 45 pairs > 20
    assert [("first_name", "first_name"), ("last_name", "last_name")] in kept
    assert engine._design("contact", ["email"], 10) is None  # one field: nothing to weigh it against


def test_records_outgrowing_the_model_are_matched_now_and_retrained_later(crowd, monkeypatch):
    """Growth past RETRAIN_GROWTH does not retrain inside a sync: the new records are matched with the
    model there is, and the run says a retraining is due (the caller queues it in the background)."""
    s, _ = crowd
    engine.resolve(s.con, "contact")
    monkeypatch.setattr(engine, "RETRAIN_GROWTH", 1.01)
    rows, _ = people(40, seed=5)
    for r in rows:
        r["id"] = "g" + r["id"]
    s.put(rows)
    report = engine.resolve(s.con, "contact")
    assert report.mode == "incremental" and report.retrain_due and report.model_version == 1
    retrained = engine.resolve(s.con, "contact", full=True)
    assert retrained.model_version == 2 and not retrained.retrain_due


def test_deals_with_nothing_to_compare_or_one_system_merge_nothing():
    """Deals without names, amounts or dates (all empty or null-like): nothing links them; deals of one
    system are never compared with each other; an empty source resolves to nothing."""
    con = duckdb.connect()
    con.execute("CREATE TABLE _dcl_txn (n BIGINT NOT NULL)")
    con.execute("INSERT INTO _dcl_txn VALUES (1)")
    con.execute("""CREATE TABLE src_opportunity (_connection_id BIGINT, _source_id VARCHAR, _deleted BOOLEAN,
                   _txn BIGINT, name VARCHAR, amount DOUBLE, close_date DATE)""")
    assert engine.applies(con, "opportunity") is False  # no records: nothing to resolve
    report = engine.resolve(con, "opportunity")
    assert report.records == 0 and report.clusters == 0
    con.execute("""INSERT INTO src_opportunity VALUES
        (1, 'a', false, 2, 'N/A', NULL, NULL), (2, 'b', false, 2, '', NULL, NULL), (2, 'c', false, 2, NULL, NULL, NULL),
        (1, 'd', false, 2, 'Renewal', 100, DATE '2026-01-01'), (1, 'e', false, 2, 'Renewal', 100, DATE '2026-01-01'),
        (2, 'f', false, 2, 'Upsell', 250, DATE '2026-03-01'), (2, 'g', false, 2, 'Pilot', 900, DATE '2026-06-30')""")
    assert engine.applies(con, "opportunity") is True  # two systems
    report = engine.resolve(con, "opportunity", full=True)
    assert report.fallback is None and report.records == 7 and report.merged_records == 0 and report.clusters == 7
    # d and e are identical but of one system: never even compared
    assert not con.execute("SELECT count(*) FROM _er_edges_opportunity WHERE uid_l = '1:d'").fetchone()[0]
    con.execute("DELETE FROM src_opportunity WHERE _connection_id = 2")
    assert engine.applies(con, "opportunity") is False
    assert engine.forget(con, "opportunity") is True and engine.forget(con, "opportunity") is False
