"""Entity resolution: which source records of an entity are the same real-world thing (issue #19,
docs/adr/0028-entity-resolution.md).

Fellegi-Sunter probabilistic linkage with Splink 5 on DuckDB, per tenant and entity:

1. **Features** (`features.py`): each live record's match fields, cleaned, in `_er_feat_<entity>`.
2. **Model**: the comparisons and blocking rules that fit the fields this tenant's sources have
   (`_design`), trained without labels — the prior by deterministic rules, u by random sampling, m by
   expectation maximisation — and kept with a version in `_er_model`. It is retrained when the records
   have grown by `RETRAIN_GROWTH` since it was trained or the fields changed; otherwise reused.
3. **Pairs** scored by the model (≥ the review floor) are kept in `_er_edges_<entity>`; pairs at or
   above the entity's threshold link records; those between the floor and the threshold are review
   items (with Splink's match weights per comparison, the waterfall).
4. **Clusters**: connected components (Splink's clustering) of the links plus the people's
   must-links; a cluster holding a cannot-link pair is re-linked greedily, strongest links first,
   never joining what a person separated. A cluster larger than `MAX_CLUSTER` is re-clustered at
   `STRICT_PROBABILITY`, and what is still too large is held (its records stay apart) and reported.
5. **Stable ids** (`_assign_ids`): a cluster keeps the id of its oldest member; a merge leaves the
   absorbed id pointing at the survivor; a split gives the new part a new id.

`resolve(full=False)` is incremental: only records written since the last run (`_txn` above its
watermark) are re-featured and scored, against the existing records that share a blocking key with
them, and only the clusters they touch are recomputed.

The result is `_er_<entity>`: `_connection_id`, `_source_id`, `unified_id`, `probability` (the
strongest link joining the record to its cluster; 1.0 for a person's must-link, NULL alone).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
from django.conf import settings

from .. import store
from . import features

logger = logging.getLogger(__name__)

ENTITIES = ("account", "contact", "opportunity")
# Entities matched across systems only: two deals of one CRM are two deals (its own ids say so); the same
# deal twice is a deal that moved or was copied between systems. Resolved only while two connections have
# records of them (`applies`).
CROSS_SOURCE = ("opportunity",)
# (threshold, review floor) of the match probability per entity: a wrong merge of companies or deals loses
# pipeline, so they need more certainty than people
THRESHOLDS = {"contact": (0.5, 0.2), "account": (0.9, 0.5), "opportunity": (0.9, 0.5)}
MAX_CLUSTER = 50
STRICT_PROBABILITY = 0.99
RETRAIN_GROWTH = 2.0
MAX_REVIEW_ITEMS = 1000
# Training needs evidence: the prior is estimated from deterministic rules that find at least this many
# pairs, m by expectation maximisation over sessions of at least this many pairs; else generic values.
MIN_DETERMINISTIC = 10
EM_MIN_PAIRS = 100
# ... and at most this many per record: a session of mostly non-matches (everyone in one city) teaches EM
# that a shared city is what a match is.
EM_MAX_PAIRS_PER_RECORD = 2
PRIOR_DUPLICATES = 0.2
PRIOR_MAX = 0.005  # however few the records: a name alone never merges two of them
U_MIN_RECORDS = 500
TF_MIN_RECORDS = 1000
# Model layout version: bump when `_design` changes what a model means (every tenant retrains once).
DESIGN = 1
# Blocking: a rule whose pairs exceed this (and BLOCK_PER_RECORD × records) is left out: one common value
# must not make the run quadratic.
BLOCK_MIN_BUDGET = 2_000_000
BLOCK_PER_RECORD = 20
BLOCK_MIN_TOTAL = 5_000_000
BLOCK_TOTAL_PER_RECORD = 60
ID_PREFIX = {"account": "acc", "contact": "con", "opportunity": "opp"}
# Entities whose view is one row per record until resolved (dcl/unify.py `per_record_id_sql`): a record
# alone keeps that id, so resolution renames nothing it does not merge.
PER_RECORD_IDS = ("opportunity",)


@dataclass
class Report:
    entity: str
    mode: str = "full"
    records: int = 0
    scored: int = 0  # records scored this run
    pairs: int = 0  # pairs at or above the review floor (new this run when incremental)
    links: int = 0
    clusters: int = 0
    merged_records: int = 0  # records in clusters of two or more
    review: list = field(default_factory=list)  # pairs between the floor and the threshold
    redirects: dict = field(default_factory=dict)  # old unified id -> new
    held: list = field(default_factory=list)  # clusters too large to publish: their sizes
    model_version: int = 0
    trained: bool = False
    fallback: str | None = None  # why the model could not be used (exact keys instead)
    retrain_due: bool = False  # the records have outgrown the model: retrain and re-cluster in the background
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("review", "redirects")} | {
            "review": len(self.review), "redirects": len(self.redirects)}


def _t(entity: str, what: str) -> str:
    return f"_er_{what}_{store.ident(entity)}" if what else f"_er_{store.ident(entity)}"


def enabled(entity: str) -> bool:
    return entity in ENTITIES and settings.DCL_ER


def applies(con: duckdb.DuckDBPyConnection, entity: str) -> bool:
    """Entity resolution runs for `entity` in this tenant now: it is on, and for an entity matched across
    systems only (CROSS_SOURCE), at least two connections hold live records of it."""
    if not enabled(entity):
        return False
    if entity not in CROSS_SOURCE:
        return True
    source = store.source_table(entity)
    if source not in store.existing_tables(con):
        return False
    return con.execute(f"SELECT count(*) FROM (SELECT DISTINCT _connection_id FROM {source} WHERE NOT _deleted "
                       "LIMIT 2)").fetchone()[0] > 1


def forget(con: duckdb.DuckDBPyConnection, entity: str) -> bool:
    """Drop what entity resolution keeps of `entity` (it no longer applies: one system is left); the next
    time it applies starts afresh. Whether there was anything."""
    tables = store.existing_tables(con)
    kept = [t for t in (_t(entity, ""), _t(entity, "feat"), _t(entity, "edges"), _t(entity, "held"),
                        _t(entity, "tf"), _t(entity, "rows")) if t in tables]
    for table in kept:
        con.execute(f"DROP TABLE {table}")
    if "_er_state" in tables:
        for table in ("_er_state", "_er_model", "_er_plan"):
            con.execute(f"DELETE FROM {table} WHERE entity = ?", [entity])
    return bool(kept)


def constraints_digest(constraints: list) -> str:
    """A digest of the people's decisions (`dcl.resolution.decisions.Constraint`: kind, left, right)."""
    items = sorted([c.kind, *map(str, c.left), *map(str, c.right)] for c in constraints)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def resolve(con: duckdb.DuckDBPyConnection, entity: str, *, constraints: list | None = None,
            full: bool = False, rules: str | None = None, apart: str | None = None,
            own_domains: list[str] | tuple[str, ...] = ()) -> Report:
    """Bring `_er_<entity>` up to date (writer lock held; `con` the tenant's store). See the module docstring.

    `rules`: a table of the entity's deterministic keys (`_connection_id`, `_source_id`, `_key`, `_group`):
    records with one `_key` are linked for certain, and records that both have a `_group` are linked by
    their keys only — the model adds links where a record has none (accounts: the website-domain rules of
    dcl/unify.py, `_group` the domain). Rules are recomputed whole, so each run clusters everything
    (with the stored model). `apart`: a table of record pairs (`uid_l` < `uid_r`) never in one cluster, as
    if a person had separated them (accounts: a subsidiary and its parent). `own_domains`: the tenant's own
    e-mail and web domains, which link nobody (`features.OWN_DOMAINS`)."""
    started = time.monotonic()
    constraints = list(constraints or [])
    _ensure(con, entity)
    con.execute("CREATE OR REPLACE TEMP TABLE _er_rules (uid VARCHAR, _key VARCHAR, _group VARCHAR)")
    if rules is not None:
        con.execute(f"INSERT INTO _er_rules SELECT _connection_id || ':' || _source_id, _key, _group FROM {rules}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {features.OWN_DOMAINS} (domain VARCHAR)")
    if own_domains:
        con.executemany(f"INSERT INTO {features.OWN_DOMAINS} VALUES (?)", [[d] for d in sorted(set(own_domains))])
    con.execute("CREATE OR REPLACE TEMP TABLE _er_apart (uid_l VARCHAR, uid_r VARCHAR)")
    if apart is not None:
        con.execute(f"INSERT INTO _er_apart SELECT uid_l, uid_r FROM {apart}")
    state = con.execute("SELECT txn, constraints FROM _er_state WHERE entity = ?", [entity]).fetchone()
    txn = store.txn_last(con)
    clusters = _t(entity, "")
    has_clusters = clusters in store.existing_tables(con)
    digest = constraints_digest(constraints)
    if full or state is None or not has_clusters or rules is not None:
        report = _full(con, entity, constraints, retrain=full)
    else:
        report = _incremental(con, entity, constraints, since=int(state[0]), constraints_changed=state[1] != digest)
    con.execute("INSERT OR REPLACE INTO _er_state VALUES (?, ?, ?)", [entity, txn, digest])
    report.seconds = round(time.monotonic() - started, 3)
    logger.info("entity resolution %s: %s", entity, report.as_dict())
    return report


def _ensure(con, entity: str) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS _er_state (entity VARCHAR PRIMARY KEY, txn BIGINT, constraints VARCHAR)")
    con.execute("""CREATE TABLE IF NOT EXISTS _er_model (entity VARCHAR PRIMARY KEY, version INTEGER, design VARCHAR,
                   records BIGINT, trained_at TIMESTAMPTZ, model VARCHAR)""")
    con.execute("CREATE TABLE IF NOT EXISTS _er_plan (entity VARCHAR PRIMARY KEY, plan VARCHAR)")


# --- the model's design ----------------------------------------------------------------------------


@dataclass
class Design:
    comparisons: list  # Splink comparisons (dicts, with their prior m values)
    inputs: list[list[str]]  # each comparison's feature columns (for the waterfall's values)
    blocking: list[list[tuple[str, str]]]  # each rule: (left column, right column) equalities
    em: list[list[list[str]]]  # per expectation-maximisation session, candidate blocking columns
    deterministic: list[list[str]]  # rules for the prior (pairs nearly certain to match)
    tf: list[str]  # columns with term-frequency adjustments
    pair_filter: str = ""  # SQL every compared pair meets besides its blocking rule (CROSS_SOURCE: two systems)

    def signature(self) -> str:
        return json.dumps({"design": DESIGN, "inputs": self.inputs, "blocking": self.blocking, "em": self.em,
                           "tf": self.tf, "filter": self.pair_filter})

    def rule(self, rule: list[tuple[str, str]]) -> str:
        """A blocking rule's SQL, with the pair filter."""
        return _rule_sql(rule) + (f" AND {self.pair_filter}" if self.pair_filter else "")

    def block(self, columns: list[str]):
        """A training rule on equal `columns`: Splink's `block_on`, or SQL with the pair filter."""
        from splink import block_on

        return self.rule([(c, c) for c in columns]) if self.pair_filter else block_on(*columns)


def _usable(con, table: str, columns: list[str], n: int) -> list[str]:
    """Columns filled in at least 1% of the records with at least two distinct values."""
    if not columns or not n:
        return []
    sel = ", ".join(f"count({store.quote(c)}), approx_count_distinct({store.quote(c)})" for c in columns)
    row = con.execute(f"SELECT {sel} FROM {table}").fetchone()
    return [c for i, c in enumerate(columns) if row[2 * i] >= max(2, 0.01 * n) and row[2 * i + 1] >= 2]


# Prior m probabilities per comparison level, best level first (null levels excluded): among records of
# the same thing, how often each level is seen. Generic knowledge of CRM data, the starting point that
# expectation maximisation replaces wherever a tenant's data has enough pairs to learn from (`_train`):
# people keep their name, often change e-mail between systems, typo streets more than postcodes.
M_PRIORS = {
    "names": [0.70, 0.02, 0.12, 0.04, 0.04, 0.03, 0.05],  # full, reversed, JW .92, JW .88, last, first, other
    "name": [0.70, 0.10, 0.06, 0.04, 0.10],  # exact, JW .92, JW .88, JW .7, other
    "email": [0.45, 0.55],  # a person's records often carry other addresses
    "company": [0.60, 0.15, 0.10, 0.15],
    "domain": [0.80, 0.20],
    "phone": [0.55, 0.45],
    "street": [0.60, 0.10, 0.05, 0.25],
    "city": [0.75, 0.05, 0.05, 0.15],
    "postal_code": [0.75, 0.08, 0.02, 0.15],
    "exact": [0.90, 0.10],
    "account": [0.95, 0.05],  # the same person's records name one company (accounts are resolved first)
    # deals: a deal copied to another system keeps its name, amount and close date, or has them edited since
    "deal_name": [0.70, 0.15, 0.10, 0.05],  # a copy keeps its name, or one typo'd: another name is a strong no
    "amount": [0.70, 0.10, 0.08, 0.07, 0.05],  # same, within 1%, 10%, 50%, other
    "close_date": [0.55, 0.15, 0.10, 0.08, 0.12],  # same day, within 7, 30, 90 days, other
    "deal_account": [0.90, 0.10],
}
# Prior u probabilities, the same levels: how often two records of different things agree so, in a
# population of many. Used where a tenant has fewer than U_MIN_RECORDS records (random pairs of a
# handful of records are no population: the duplicates themselves would make agreement look common).
U_PRIORS = {
    "names": [2e-3, 1e-6, 5e-4, 1e-3, 5e-3, 1e-2, 0.981499],
    "name": [5e-3, 5e-3, 1e-2, 5e-2, 0.93],
    "email": [1e-6, 0.999999],
    "company": [1e-4, 2e-4, 1e-3, 0.9987],
    "domain": [1e-4, 0.9999],
    "phone": [1e-6, 0.999999],
    "street": [1e-4, 3e-4, 2e-3, 0.9976],
    "city": [0.02, 1e-3, 3e-3, 0.976],
    "postal_code": [5e-3, 2e-2, 5e-2, 0.925],
    "exact": [0.1, 0.9],
    "account": [0.01, 0.99],
    # two deals of one company are often named after one product ("Renewal"), so names agree more often
    "deal_name": [0.02, 0.002, 0.005, 0.973],
    "amount": [0.002, 0.01, 0.08, 0.35, 0.558],
    "close_date": [0.005, 0.03, 0.10, 0.20, 0.665],
    "deal_account": [0.02, 0.98],
}


PLACE = ("postal_code", "city", "state", "country")
PLACE_DEPENDENT = 0.5
_SAME_STATE = '("state_l" = "state_r" OR "state_l" IS NULL OR "state_r" IS NULL)'
# (columns needed, SQL, label, prior m, prior u): where a record is, finest agreement first
PLACE_LEVELS = (
    (("postal_code", "city"),
     '"postal_code_l" = "postal_code_r" AND jaro_winkler_similarity("city_l", "city_r") >= 0.88',
     "same postcode and city", 0.70, 1e-4),
    (("postal_code",), '"postal_code_l" = "postal_code_r"', "same postcode", 0.10, 2e-4),
    (("city", "state"), f'"city_l" = "city_r" AND {_SAME_STATE}', "same city", 0.08, 2e-3),
    (("city",), '"city_l" = "city_r"', "same city", 0.08, 2e-3),
    (("postal_code",), 'levenshtein("postal_code_l", "postal_code_r") <= 1', "postcode one character off", 0.04, 1e-3),
    (("city",), 'jaro_winkler_similarity("city_l", "city_r") >= 0.88', "city alike", 0.03, 3e-3),
    (("state",), '"state_l" = "state_r"', "same state", 0.02, 0.05),
    (("country",), '"country_l" = "country_r"', "same country", 0.01, 0.2),
)


def _place_comparison(columns: list[str]) -> tuple[object, list[float], list[float]]:
    """One comparison for where a record is (postcode, city, state, country): they say the same thing at
    finer and coarser grain, and weighed as independent fields a shared town would count three or four
    times (neighbours with one surname would merge). Its levels, best first, of the columns there are,
    with their prior m and u (PLACE_LEVELS)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def q(c: str, side: str) -> str:
        return f'"{c}_{side}"'

    null = " AND ".join(f"({q(c, 'l')} IS NULL OR {q(c, 'r')} IS NULL)" for c in columns)
    levels = [cll.CustomLevel(null, "no place on one side").configure(is_null_level=True)]
    m, u = [], []
    labels = set()
    for needs, sql, label, mp, up in PLACE_LEVELS:
        if all(c in columns for c in needs) and label not in labels:
            labels.add(label)
            levels.append(cll.CustomLevel(sql, label))
            m.append(mp)
            u.append(up)
    levels.append(cll.ElseLevel())
    m.append(max(0.01, 1 - sum(m)))
    u.append(max(0.5, 1 - sum(u)))
    comparison = cl.CustomComparison(comparison_levels=levels, output_column_name="place",
                                     comparison_description="postcode, city, state and country together")
    return comparison, m, u


def _company_comparison():
    """Company names: exact, then alike by Jaro-Winkler (0.95, 0.88) only when they carry the same
    numbers — "Account 1" and "Account 2", "Unit 7 Ltd" and "Unit 9 Ltd" are alike letters and other
    companies."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    same_numbers = ("regexp_replace(\"name_l\", '[^0-9]', '', 'g') = regexp_replace(\"name_r\", '[^0-9]', '', 'g')")
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name"),
            cll.CustomLevel(f'jaro_winkler_similarity("name_l", "name_r") >= 0.95 AND {same_numbers}',
                            "Jaro-Winkler of name >= 0.95, same numbers"),
            cll.CustomLevel(f'jaro_winkler_similarity("name_l", "name_r") >= 0.88 AND {same_numbers}',
                            "Jaro-Winkler of name >= 0.88, same numbers"),
            cll.ElseLevel(),
        ],
        output_column_name="name", comparison_description="company name without its legal form")


def _deal_name_comparison():
    """A deal's name: exact, then one or up to three edits apart (with the same numbers). Not Jaro-Winkler:
    deals are named after their company and product ("Acme - Upsell", "Acme - Analytics Add-on"), and a
    shared company prefix makes two deals' names look alike to a measure that rewards common prefixes;
    a copy in another system differs by a typo, not by its product."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    same_numbers = ("regexp_replace(\"name_l\", '[^0-9]', '', 'g') = regexp_replace(\"name_r\", '[^0-9]', '', 'g')")
    edits = 'damerau_levenshtein("name_l", "name_r") <= {}'
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name"),
            cll.CustomLevel(f"{edits.format(1)} AND {same_numbers}", "name one edit apart, same numbers"),
            cll.CustomLevel(f"{edits.format(3)} AND {same_numbers}", "name up to three edits apart, same numbers"),
            cll.ElseLevel(),
        ],
        output_column_name="name", comparison_description="the deal's name")


def _amount_comparison():
    """A deal's amount: the same, within 1%, 10% (a discount, a rounding, another line item), 50%; further
    apart is another deal more often than the same one edited."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    rel = 'abs("amount_l" - "amount_r") <= {} * greatest(abs("amount_l"), abs("amount_r"))'
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("amount"),
            cll.CustomLevel('abs("amount_l" - "amount_r") < 0.005', "same amount"),
            cll.CustomLevel(rel.format(0.01), "amount within 1%"),
            cll.CustomLevel(rel.format(0.10), "amount within 10%"),
            cll.CustomLevel(rel.format(0.50), "amount within 50%"),
            cll.ElseLevel(),
        ],
        output_column_name="amount", comparison_description="the deal's amount")


def _close_date_comparison():
    """A deal's close date: the same day, or within 7, 30, 90 days (a deal's date moves while it is worked)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    diff = 'abs(date_diff(\'day\', "close_date_l", "close_date_r")) <= {}'
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("close_date"),
            cll.CustomLevel('"close_date_l" = "close_date_r"', "same close date"),
            *(cll.CustomLevel(diff.format(d), f"close dates within {d} days") for d in (7, 30, 90)),
            cll.ElseLevel(),
        ],
        output_column_name="close_date", comparison_description="the deal's close date")


def _email_comparison():
    """E-mail: the same address or not. Not Splink's EmailComparison: its Jaro-Winkler on the whole
    address scores colleagues at one company domain (yusuf.haddad@ / yusuf.bauer@) as nearly the same
    address, and its user-name levels say again what the names said (victor.fischer@ at two companies is
    two people as often as one): a model that takes its fields as independent would count them twice."""
    import splink.comparison_library as cl

    return cl.ExactMatch("email")


def _place_joint(con, table: str, cols: list[str]) -> bool:
    """Whether the place fields depend on each other in these records: two records with one postcode
    mostly share a city (more than PLACE_DEPENDENT of such pairs do). Then they are weighed together
    (`_place_comparison`); where postcode and city vary independently, each is evidence of its own."""
    if not {"postal_code", "city"} <= set(cols):
        return "state" in cols and ("postal_code" in cols or "city" in cols)
    same_postcode = _rule_pairs(con, table, [("postal_code", "postal_code")])
    both = _rule_pairs(con, table, [("postal_code", "postal_code"), ("city", "city")])
    return same_postcode > 0 and both / same_postcode > PLACE_DEPENDENT


def _design(entity: str, cols: list[str], n: int, *, joint_place: bool = True) -> Design | None:
    """The comparisons and blocking rules for the fields this tenant's `n` records have (`cols`, those in
    use); None when fewer than two fields can be compared (nothing to weigh one against). Term-frequency
    adjustments only from TF_MIN_RECORDS records: in a small tenant every repeated name looks common.
    `joint_place`: postcode, city, state and country as one comparison (`_place_joint`)."""
    import splink.comparison_library as cl

    comps, inputs, tf = [], [], []
    has = set(cols).__contains__
    use_tf = n >= TF_MIN_RECORDS

    def add(comp, columns: list[str], prior: str | tuple[list[float], list[float]], *,
            tf_columns: tuple[str, ...] = ()) -> None:
        """The comparison as Splink's dict, with its prior m values, and term-frequency adjustments on its
        exact levels of `tf_columns` only when `use_tf` (Splink's own defaults otherwise decide)."""
        spec = comp.get_comparison("duckdb").as_dict()
        levels = [lv for lv in spec["comparison_levels"] if not lv.get("is_null_level")]
        m_prior, u_prior = (M_PRIORS[prior], U_PRIORS[prior]) if isinstance(prior, str) else prior
        for level, m, u in zip(levels, m_prior, u_prior, strict=True):
            level["m_probability"] = m
            level["u_probability"] = u
        for level in spec["comparison_levels"]:
            if use_tf and level.get("tf_adjustment_column") is None and tf_columns and level is levels[0]:
                level["tf_adjustment_column"] = tf_columns[0]
                level["tf_adjustment_weight"] = 1.0
            elif not use_tf:
                level.pop("tf_adjustment_column", None)
                level.pop("tf_adjustment_weight", None)
        comps.append(spec)
        inputs.append(columns)
        if use_tf:
            tf.extend(tf_columns)

    if entity == "contact":
        if has("first_name") and has("last_name"):
            add(cl.ForenameSurnameComparison("first_name", "last_name", forename_surname_concat_col_name="full_name"),
                ["first_name", "last_name"], "names", tf_columns=("first_name", "last_name", "full_name"))
        else:
            for c in ("first_name", "last_name"):
                if has(c):
                    add(cl.NameComparison(c), [c], "name", tf_columns=(c,))
        if has("email"):
            add(_email_comparison(), ["email"], "email")
    elif entity == "account":
        if has("name"):
            add(_company_comparison(), ["name"], "company", tf_columns=("name",))
        if has("domain"):
            add(cl.ExactMatch("domain"), ["domain"], "domain")
    else:  # opportunity
        if has("name"):
            add(_deal_name_comparison(), ["name"], "deal_name", tf_columns=("name",))
        if has("amount"):
            add(_amount_comparison(), ["amount"], "amount")
        if has("close_date"):
            add(_close_date_comparison(), ["close_date"], "close_date")
    if has("account"):
        # the unified account of the record's company: the same name at the same company is the same person
        # (the same deal, for a deal)
        add(cl.ExactMatch("account"), ["account"], "account" if entity == "contact" else "deal_account")
    if has("phone"):
        add(cl.ExactMatch("phone"), ["phone"], "phone")
    if has("street"):
        add(cl.JaroWinklerAtThresholds("street", [0.95, 0.88]), ["street"], "street")
    # a contact's address is mostly its company's: with the company compared, the place says it again
    # (every colleague shares it) and would outweigh the names
    place = [c for c in PLACE if has(c)] if not (entity == "contact" and has("account")) else []
    if place and joint_place:
        comparison, m_prior, u_prior = _place_comparison(place)
        add(comparison, place, (m_prior, u_prior))
    elif place:  # the place fields vary independently here: each is evidence of its own
        if has("city"):
            add(cl.JaroWinklerAtThresholds("city", [0.95, 0.88]), ["city"], "city", tf_columns=("city",))
        if has("postal_code"):
            add(cl.LevenshteinAtThresholds("postal_code", [1, 2]), ["postal_code"], "postal_code")
        for c in ("state", "country"):
            if has(c):
                add(cl.ExactMatch(c), [c], "exact")
    if len(comps) < 2:
        return None  # nothing to weigh one field against: exact keys (see `_fallback_keys`)

    def rule(*names: str) -> list[tuple[str, str]] | None:
        return [(n, n) for n in names] if all(has(n) for n in names) else None

    if entity == "contact":
        candidates = [rule("email"), rule("phone"), rule("first_name", "last_name"), rule("last_name", "postal_code"),
                      rule("first_name", "postal_code"), rule("street", "postal_code"), rule("last_name", "street"),
                      rule("first_name", "street"), rule("last_name", "city"), rule("first_name", "city"),
                      [("first_name", "last_name"), ("last_name", "first_name")]
                      if has("first_name") and has("last_name") else None,
                      rule("street"), rule("postal_code"), rule("last_name"), rule("first_name"),
                      rule("_bk_first_name", "_bk_last_name"), rule("_bk_last_name", "postal_code"),
                      rule("_bk_first_name", "postal_code"), rule("_bk_last_name", "city"),
                      rule("_bk_first_name", "city"), rule("_bk_last_name", "street"), rule("city", "state")]
        names = [c for c in ("first_name", "last_name") if has(c)]
        # EM sessions: one blocked on the names (learns every other field), one on a field that is not a
        # name (learns the names); `_train` takes each session's most selective candidate
        em = [[names, *([*names, c] for c in ("postal_code", "city") if has(c))] if names else [],
              [[c] for c in ("phone", "email", "street", "postal_code", "city") if has(c)]]
        deterministic = [r for r in ([["email"]] if has("email") else [])
                         + [[*names, c] for c in ("postal_code", "street", "city") if has(c) and names][:1]]
    elif entity == "opportunity":
        candidates = [rule("account", "amount"), rule("account", "close_date"), rule("account", "name"),
                      rule("name", "amount"), rule("name", "close_date"), rule("amount", "close_date"),
                      rule("account", "_bk_name"), rule("_bk_name", "amount"), rule("account"), rule("name"),
                      rule("amount")]
        # one session blocked on the company (learns name, amount and date), one on what is not the company
        first = [c for c in (["account"], ["account", "close_date"]) if all(has(x) for x in c)] or \
            ([["name"]] if has("name") else [])
        em = [first, [c for c in (["amount"], ["close_date"], ["name", "amount"])
                      if all(has(x) for x in c) and c not in first]]
        deterministic = [r for r in (["account", "amount", "close_date"], ["name", "amount", "close_date"])
                         if all(has(x) for x in r)]
        blocking = [r for r in candidates if r]
        if not all(em) or not blocking:
            return None
        return Design(comps, inputs, blocking, em, deterministic, [t for t in tf if t in cols],
                      pair_filter='l."_src" <> r."_src"')
    else:
        candidates = [rule("domain"), rule("phone"), rule("name"), rule("name", "city"), rule("street", "postal_code"),
                      rule("name", "postal_code"), rule("_bk_name", "city"), rule("_bk_name", "postal_code"),
                      rule("street"), rule("_bk_name")]
        em = [[["name"]] if has("name") else [],
              [[c] for c in ("domain", "phone", "street", "postal_code", "city") if has(c)]]
        deterministic = [r for r in ([["domain", "name"]] if has("domain") and has("name") else [])
                         + ([["name", "postal_code"]] if has("name") and has("postal_code") else [])]
    blocking = [r for r in candidates if r]
    if not all(em) or not blocking:
        return None
    return Design(comps, inputs, blocking, em, deterministic, [t for t in tf if t in cols or t == "full_name"])


def _rule_sql(rule: list[tuple[str, str]]) -> str:
    return " AND ".join(f"l.{store.quote(a)} = r.{store.quote(b)}" for a, b in rule)


def _rule_pairs(con, table: str, rule: list[tuple[str, str]]) -> int:
    """The pairs an equality rule makes (exact, from value counts; a swapped rule as a join of counts)."""
    left = [a for a, _ in rule]
    right = [b for _, b in rule]
    if left == right:
        cols = ", ".join(store.quote(c) for c in left)
        where = " AND ".join(f"{store.quote(c)} IS NOT NULL" for c in left)
        return int(con.execute(f"SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM {table} "
                               f"WHERE {where} GROUP BY {cols})").fetchone()[0])
    lc = ", ".join(f"{store.quote(a)} AS k{i}" for i, a in enumerate(left))
    rc = ", ".join(f"{store.quote(b)} AS k{i}" for i, b in enumerate(right))
    keys = ", ".join(f"k{i}" for i in range(len(rule)))
    on = " AND ".join(f"a.k{i} = b.k{i}" for i in range(len(rule)))
    return int(con.execute(f"""SELECT coalesce(sum(a.n * b.n), 0) / 2 FROM
        (SELECT {keys}, count(*) AS n FROM (SELECT {lc} FROM {table}) GROUP BY ALL) a JOIN
        (SELECT {keys}, count(*) AS n FROM (SELECT {rc} FROM {table}) GROUP BY ALL) b ON {on}""").fetchone()[0])


def _blocking_within_budget(con, table: str, design: Design, n: int) -> list[list[tuple[str, str]]]:
    """The design's blocking rules, in order, each making at most the per-rule budget of pairs, until
    their pairs together reach the total budget (counts include pairs an earlier rule made: an upper
    bound). Precise rules come first, loose ones (a single name, prefixes) only while the data is small
    enough to afford them."""
    per_rule = max(BLOCK_MIN_BUDGET, BLOCK_PER_RECORD * n)
    total = max(BLOCK_MIN_TOTAL, BLOCK_TOTAL_PER_RECORD * n)
    kept, spent = [], 0
    counted = [(r, _rule_pairs(con, table, r)) for r in design.blocking]
    for r, pairs in counted:
        if pairs <= per_rule and spent + pairs <= total:
            kept.append(r)
            spent += pairs
    return kept or [min(counted, key=lambda rc: rc[1])[0]]


# --- Splink ----------------------------------------------------------------------------------------


# An m probability EM estimates as exactly 0 (a level never seen among the matches of a session: the
# duplicates in these records never had another postcode, say) is refused by Splink 5's setters, which
# aborts the whole session. It becomes M_FLOOR instead: strong evidence against a match, not a rule that
# nothing else can outweigh (docs/adr/0028-entity-resolution.md).
M_FLOOR = 0.001


@contextlib.contextmanager
def _em_m_floor():
    from splink.internals import expectation_maximisation as em

    original = em.populate_m_u_from_lookup

    def floored(training_fixed_probabilities, comparison_level, output_column_name, m_u_records_lookup):
        for levels in m_u_records_lookup.values():
            for record in levels.values():
                m = record.get("m_probability")
                if isinstance(m, (int, float)) and m < M_FLOOR:
                    record["m_probability"] = M_FLOOR
        return original(training_fixed_probabilities, comparison_level, output_column_name, m_u_records_lookup)

    em.populate_m_u_from_lookup = floored
    try:
        yield
    finally:
        em.populate_m_u_from_lookup = original


class _Splink:
    """A Splink linker over an in-memory DuckDB of its own (the tenant's store is not filled with
    Splink's working tables), fed with the features as Arrow."""

    def __init__(self, data: pa.Table, model: dict) -> None:
        from splink import DuckDBAPI, Linker

        self.er = duckdb.connect(config={"threads": settings.DCL_DUCKDB_THREADS,
                                         "memory_limit": settings.DCL_ER_MEMORY_LIMIT})
        self.er.register("_feat_in", data)
        self.er.execute("CREATE TABLE feat AS SELECT * FROM _feat_in")
        self.er.unregister("_feat_in")
        self.db = DuckDBAPI(connection=self.er)
        self.sdf = self.db.register("feat", table_name="records")
        self.linker = Linker(self.sdf, model, log_level=None)

    def term_frequencies(self, con, entity: str, columns: list[str]) -> None:
        """Register the whole tenant's term frequencies of `columns` (kept by the last full run,
        `_tf_store`) for a linker over a handful of records."""
        for col in columns:
            tf = con.execute(f"SELECT value AS {store.quote(col)}, tf AS tf_{col} FROM {_t(entity, 'tf')} "
                             "WHERE col = ?", [col]).fetch_arrow_table()
            self.er.register(f"_tf_in_{col}", tf)
            self.er.execute(f"CREATE TABLE tf_lookup_{col} AS SELECT * FROM _tf_in_{col}")
            self.linker.table_management.register_term_frequency_lookup(
                self.db.register(f"tf_lookup_{col}", table_name=f"tf_{col}_lookup"), col)

    def reload(self, model: dict) -> None:
        """A new linker over the same records with `model` (after a training step failed half-way)."""
        from splink import Linker

        self.linker = Linker(self.sdf, model, log_level=None)

    def close(self) -> None:
        self.er.close()


def _settings(design: Design, blocking: list[list[tuple[str, str]]], n: int):
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        # until the data says otherwise: a record has on average PRIOR_DUPLICATES others of the same thing
        probability_two_random_records_match=min(PRIOR_MAX, PRIOR_DUPLICATES / max(n - 1, 1)),
        unique_id_column_name="uid",
        comparisons=design.comparisons,
        blocking_rules_to_generate_predictions=[design.rule(r) for r in blocking],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
    )


def _train(con, table: str, sp: _Splink, design: Design, n: int, report: Report) -> None:
    """Prior, u and m from the tenant's own `n` records, each only where they carry enough evidence: the
    prior from deterministic rules when they find at least MIN_DETERMINISTIC pairs, u by random sampling
    from U_MIN_RECORDS records, m by expectation maximisation in each session whose blocking makes at
    least EM_MIN_PAIRS pairs. What the data cannot tell (a small tenant) keeps the priors (M_PRIORS,
    U_PRIORS, PRIOR_DUPLICATES): a cold-start model that needs more than a name to merge."""
    from splink.internals.exceptions import SplinkException

    found = sum(_rule_pairs(con, table, [(c, c) for c in r]) for r in design.deterministic)
    if design.deterministic and found >= MIN_DETERMINISTIC:
        try:
            sp.linker.training.estimate_probability_two_random_records_match(
                [design.block(r) for r in design.deterministic], recall=0.7, record_sample_proportion=1.0)
        except (SplinkException, ValueError, duckdb.Error) as exc:
            logger.info("prior not estimated (%s); Splink's default stays", exc)
    if n >= U_MIN_RECORDS:
        sp.linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    done = 0
    for session in design.em:
        # candidates by the fewest pairs, enough to learn from and selective: records that agree on a selective field
        # are mostly matches, where EM finds them (a common field, nine cities say, buries the matches and
        # EM learns "same city" instead). The first that trains wins; a failed session leaves the linker's
        # settings half-changed (Splink drops the blocked comparisons while it runs), so it is reloaded.
        counted = sorted((_rule_pairs(con, table, [(c, c) for c in cols]), cols) for cols in session)
        for pairs, cols in counted:
            if pairs < EM_MIN_PAIRS or pairs > EM_MAX_PAIRS_PER_RECORD * n:
                continue
            before = sp.linker.misc.save_model_to_json()
            try:
                with _em_m_floor():
                    sp.linker.training.estimate_parameters_using_expectation_maximisation(
                        design.block(cols), fix_probability_two_random_records_match=True)
            except (SplinkException, ValueError, ZeroDivisionError, duckdb.Error) as exc:
                logger.info("EM blocked on %s did not run: %s", cols, exc)
                sp.reload(before)
                continue
            done += 1
            break
    report.trained = done > 0  # False: generic m values (too few pairs to learn them from)


def _model(con, entity: str, sp_data: pa.Table, design: Design, blocking, n: int, report: Report,
           *, retrain: bool) -> tuple[_Splink, int]:
    """The tenant's trained model (reused, or trained now), loaded in a Splink linker over `sp_data`."""
    sig = design.signature()
    row = con.execute("SELECT version, design, records, model FROM _er_model WHERE entity = ?", [entity]).fetchone()
    if row and not retrain and row[1] == sig and n <= RETRAIN_GROWTH * max(int(row[2]), 1):
        model = json.loads(row[3])
        model["blocking_rules_to_generate_predictions"] = [design.rule(r) for r in blocking]
        return _Splink(sp_data, model), int(row[0])
    sp = _Splink(sp_data, _settings(design, blocking, n))
    try:
        _train(con, _t(entity, "feat"), sp, design, n, report)
    except BaseException:
        sp.close()
        raise
    version = (int(row[0]) if row else 0) + 1
    model = sp.linker.misc.save_model_to_json()
    con.execute("INSERT OR REPLACE INTO _er_model VALUES (?, ?, ?, ?, now(), ?)",
                [entity, version, sig, n, json.dumps(model)])
    return sp, version


def _predict_into(con, edges: str, sp: _Splink, design: Design, threshold: float, floor: float, *,
                  new_only: bool = False) -> int:
    """Score pairs (at or above `floor`; with `new_only`, those with a changed record) and add them to
    `edges`: the links as they are, the pairs below `threshold` with their waterfall. Only the latter
    come to Python (a million records make a few hundred thousand links). Returns the pairs added."""
    pred = sp.linker.inference.predict(threshold_match_probability=floor).physical_name
    if new_only:
        sp.er.execute(f"""CREATE OR REPLACE TABLE _scored AS SELECT p.* FROM {pred} p
                          JOIN feat fl ON fl.uid = p.uid_l JOIN feat fr ON fr.uid = p.uid_r
                          WHERE fl._new OR fr._new""")
        pred = "_scored"
    links = sp.er.execute(f"""SELECT uid_l, uid_r, match_probability, match_weight, NULL::VARCHAR AS waterfall
                              FROM {pred} WHERE match_probability >= {threshold}""").fetch_arrow_table()
    band = sp.er.execute(f"SELECT * FROM {pred} WHERE match_probability < {threshold}").fetch_arrow_table()
    band = pa.table({
        "uid_l": band.column("uid_l"), "uid_r": band.column("uid_r"),
        "match_probability": band.column("match_probability"), "match_weight": band.column("match_weight"),
        "waterfall": pa.array(_waterfalls(sp, design, band), pa.string()),
    })
    for batch in (links, band):
        con.register("_er_pairs_in", batch)
        try:
            con.execute(f"""INSERT INTO {edges} SELECT least(uid_l, uid_r), greatest(uid_l, uid_r),
                            match_probability, match_weight, waterfall FROM _er_pairs_in""")
        finally:
            con.unregister("_er_pairs_in")
    return links.num_rows + band.num_rows


def _waterfalls(sp: _Splink, design: Design, pairs: pa.Table) -> list[str]:
    """Per pair: Splink's waterfall (prior, then each comparison's level, Bayes factor and the two
    values) as JSON."""
    settings_obj = sp.linker._settings_obj
    prior = settings_obj._probability_two_random_records_match
    rows = pairs.to_pylist()
    out: list[str] = []
    comps = settings_obj.comparisons
    for row in rows:
        steps = [{"comparison": "prior", "level": "two records at random",
                  "bayes_factor": prior / (1 - prior), "log2_bayes_factor": math.log2(prior / (1 - prior)),
                  "left": None, "right": None}]
        for comp, cols in zip(comps, design.inputs, strict=False):
            name = comp.output_column_name
            gamma = row.get(f"gamma_{name}")
            level = next((lv for lv in comp.comparison_levels if lv.comparison_vector_value == gamma), None)
            weight = (row.get(f"mw_{name}") or 0.0) + (row.get(f"mw_tf_adj_{name}") or 0.0)
            steps.append({
                "comparison": name, "level": level.label_for_charts if level is not None else str(gamma),
                "bayes_factor": 2.0 ** weight, "log2_bayes_factor": weight,
                "left": " ".join(str(row.get(f"{c}_l")) for c in cols if row.get(f"{c}_l") is not None) or None,
                "right": " ".join(str(row.get(f"{c}_r")) for c in cols if row.get(f"{c}_r") is not None) or None,
            })
        out.append(json.dumps(steps))
    return out


# --- full and incremental runs ------------------------------------------------------------------------


def _full(con, entity: str, constraints: list, *, retrain: bool = False) -> Report:
    report = Report(entity, mode="full")
    feat = _t(entity, "feat")
    cols = features.build(con, entity)
    features.over_common(con, entity, cols)
    n = int(con.execute(f"SELECT count(*) FROM {feat}").fetchone()[0])
    report.records = report.scored = n
    edges = _t(entity, "edges")
    con.execute(f"CREATE OR REPLACE TABLE {edges} "
                "(uid_l VARCHAR, uid_r VARCHAR, p DOUBLE, w DOUBLE, waterfall VARCHAR)")
    usable = _usable(con, feat, cols, n)
    joint = _place_joint(con, feat, usable)
    design = _design(entity, usable, n, joint_place=joint)
    con.execute("DELETE FROM _er_plan WHERE entity = ?", [entity])
    if design is None:
        report.fallback = "too few fields to weigh against each other"
        _fallback_edges(con, entity, cols)
    else:
        threshold, floor = THRESHOLDS[entity]
        blocking = _blocking_within_budget(con, feat, design, n)
        # what an incremental run reuses instead of measuring the whole tenant again
        plan = {"cols": sorted(cols), "usable": usable, "joint_place": joint, "blocking": blocking}
        con.execute("INSERT INTO _er_plan VALUES (?, ?)", [entity, json.dumps(plan)])
        _tf_store(con, entity, design)
        data = con.execute(f"SELECT * EXCLUDE (_connection_id, _source_id, _txn) FROM {feat}").fetch_arrow_table()
        sp, report.model_version = _model(con, entity, data, design, blocking, n, report, retrain=retrain)
        try:
            _predict_into(con, edges, sp, design, threshold, floor)
        finally:
            sp.close()
    report.pairs = int(con.execute(f"SELECT count(*) FROM {edges}").fetchone()[0])
    _cluster_and_publish(con, entity, constraints, report=report, everything=True)
    return report


def _tf_store(con, entity: str, design: Design) -> None:
    """The whole tenant's term frequencies of the model's tf columns, for incremental runs (a few new
    records barely move them; the next full run recomputes them)."""
    feat, table = _t(entity, "feat"), _t(entity, "tf")
    con.execute(f"CREATE OR REPLACE TABLE {table} (col VARCHAR, value VARCHAR, tf DOUBLE)")
    for col in design.tf:
        q = store.quote(col)
        con.execute(f"""INSERT INTO {table} SELECT '{col}', {q}, count(*)::DOUBLE / sum(count(*)) OVER ()
                        FROM {feat} WHERE {q} IS NOT NULL GROUP BY {q}""")


def _fallback_edges(con, entity: str, cols: list[str]) -> None:
    """Without a model: records sharing an identifier (e-mail or phone for people, website domain for
    companies) link with certainty, as the rules before entity resolution did."""
    feat, edges = _t(entity, "feat"), _t(entity, "edges")
    for c in features.features_of(entity).identifiers:
        if c in cols:
            q = store.quote(c)
            con.execute(f"""INSERT INTO {edges} SELECT a.uid, b.uid, 1.0, 99.0, NULL FROM {feat} a JOIN {feat} b
                            ON a.{q} = b.{q} AND a.uid < b.uid""")


def _incremental(con, entity: str, constraints: list, *, since: int, constraints_changed: bool) -> Report:
    report = Report(entity, mode="incremental")
    feat, edges = _t(entity, "feat"), _t(entity, "edges")
    source = store.source_table(entity)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _er_changed AS SELECT DISTINCT _connection_id, _source_id
                    FROM {source} WHERE _txn > {int(since)}""")
    changed = int(con.execute("SELECT count(*) FROM _er_changed").fetchone()[0])
    if not changed and not constraints_changed:
        report.records = int(con.execute(f"SELECT count(*) FROM {feat}").fetchone()[0])
        report.mode = "unchanged"
        return report
    con.execute("CREATE OR REPLACE TEMP TABLE _er_changed_uid AS "
                "SELECT _connection_id || ':' || _source_id AS uid FROM _er_changed")
    if changed:
        cols = features.build(con, entity, only="_er_changed")
        features.over_common(con, entity, cols)
        con.execute(f"DELETE FROM {edges} WHERE uid_l IN (SELECT uid FROM _er_changed_uid) "
                    "OR uid_r IN (SELECT uid FROM _er_changed_uid)")
        n = int(con.execute(f"SELECT count(*) FROM {feat}").fetchone()[0])
        report.records = n
        model = con.execute("SELECT design, records FROM _er_model WHERE entity = ?", [entity]).fetchone()
        row = con.execute("SELECT plan FROM _er_plan WHERE entity = ?", [entity]).fetchone()
        plan = json.loads(row[0]) if row else None
        design = (_design(entity, plan["usable"], n, joint_place=plan["joint_place"])
                  if plan and plan["cols"] == sorted(cols) else None)
        if model is None or design is None or model[0] != design.signature():
            # no model, or other fields to compare: everything again, now
            return _full(con, entity, constraints)
        # grown past retraining: matched with the model there is, retrained and re-clustered in the
        # background (`retrain_due`: the caller queues it)
        report.retrain_due = n > RETRAIN_GROWTH * max(model[1], 1)
        blocking = [[tuple(pair) for pair in rule] for rule in plan["blocking"]]
        _score_new(con, entity, design, blocking, report)
    else:
        report.records = int(con.execute(f"SELECT count(*) FROM {feat}").fetchone()[0])
    if constraints_changed:
        # a person decided: recluster everything the decisions touch, and what they touched before
        _cluster_and_publish(con, entity, constraints, report=report, everything=True)
        return report
    _cluster_and_publish(con, entity, constraints, report=report, everything=False)
    return report


def _score_new(con, entity: str, design: Design, blocking: list, report: Report) -> None:
    """Score the changed records against each other and against the existing records that share a
    blocking key with one of them (the candidates), with the stored model, its blocking rules and the
    term frequencies of its last full run."""
    feat, edges = _t(entity, "feat"), _t(entity, "edges")
    threshold, floor = THRESHOLDS[entity]
    con.execute(f"CREATE OR REPLACE TEMP TABLE _er_new AS SELECT * FROM {feat} WHERE uid IN "
                "(SELECT uid FROM _er_changed_uid)")
    report.scored = int(con.execute("SELECT count(*) FROM _er_new").fetchone()[0])
    if not report.scored:
        return
    parts = []
    for r in blocking:
        on = " AND ".join(f"e.{store.quote(b)} = n.{store.quote(a)}" for a, b in r)
        parts.append(f"SELECT e.uid FROM {feat} e SEMI JOIN _er_new n ON {on}")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _er_cand AS
                    SELECT * FROM {feat} WHERE uid IN ({" UNION ".join(parts)})
                    AND uid NOT IN (SELECT uid FROM _er_changed_uid)""")
    data = con.execute("""SELECT * EXCLUDE (_connection_id, _source_id, _txn), true AS _new FROM _er_new
                           UNION ALL BY NAME
                           SELECT * EXCLUDE (_connection_id, _source_id, _txn), false AS _new FROM _er_cand"""
                       ).fetch_arrow_table()
    row = con.execute("SELECT model, version FROM _er_model WHERE entity = ?", [entity]).fetchone()
    model = json.loads(row[0])
    model["blocking_rules_to_generate_predictions"] = [design.rule(r) for r in blocking]
    report.model_version = int(row[1])
    sp = _Splink(data, model)
    try:
        # term frequencies of the whole tenant, not of this handful of records
        sp.term_frequencies(con, entity, design.tf)
        report.pairs = _predict_into(con, edges, sp, design, threshold, floor, new_only=True)
    finally:
        sp.close()


# --- clusters ----------------------------------------------------------------------------------------


def _cluster_and_publish(con, entity: str, constraints: list, *, report: Report, everything: bool) -> None:
    """Cluster all records with `everything`, otherwise the records the changed ones reach through links,
    old or new, and their previous cluster mates; give the clusters their ids."""
    feat, edges, clusters = _t(entity, "feat"), _t(entity, "edges"), _t(entity, "")
    threshold, floor = THRESHOLDS[entity]
    exists = clusters in store.existing_tables(con)
    con.execute("CREATE OR REPLACE TEMP TABLE _er_must (uid_l VARCHAR, uid_r VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE _er_cannot (uid_l VARCHAR, uid_r VARCHAR)")
    for c in constraints:
        a, b = sorted([f"{c.left[0]}:{c.left[1]}", f"{c.right[0]}:{c.right[1]}"])
        con.execute(f"INSERT INTO {'_er_must' if c.kind == 'must_link' else '_er_cannot'} VALUES (?, ?)", [a, b])
    # pairs the data itself keeps apart (a subsidiary and its parent), unless a person linked them; a rule key
    # that holds such a pair (a subsidiary at its parent's website) links nobody for certain: the model
    # decides which of the two each of its other records is
    con.execute("""INSERT INTO _er_cannot SELECT uid_l, uid_r FROM _er_apart
                   WHERE (uid_l, uid_r) NOT IN (SELECT (uid_l, uid_r) FROM _er_must)""")
    con.execute("""UPDATE _er_rules SET _group = NULL, _key = NULL WHERE _key IN (
                   SELECT a._key FROM _er_apart x JOIN _er_rules a ON a.uid = x.uid_l JOIN _er_rules b
                   ON b.uid = x.uid_r AND b._key = a._key)""")
    # links: scored pairs at the threshold (not between two records the rules both place), the rules' own
    # links and must-links, between live records, minus cannot-links
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _er_links AS
        SELECT uid_l, uid_r, max(p) AS p FROM (
            SELECT e.uid_l, e.uid_r, e.p FROM {edges} e
            LEFT JOIN _er_rules a ON a.uid = e.uid_l LEFT JOIN _er_rules b ON b.uid = e.uid_r
            WHERE e.p >= {threshold} AND (a._group IS NULL OR b._group IS NULL)
            UNION ALL SELECT least(h, uid), greatest(h, uid), 1.0 FROM (
                SELECT uid, min(uid) OVER (PARTITION BY _key) AS h FROM _er_rules WHERE _key IS NOT NULL) WHERE uid <> h
            UNION ALL SELECT uid_l, uid_r, 1.0 FROM _er_must
        ) WHERE uid_l IN (SELECT uid FROM {feat}) AND uid_r IN (SELECT uid FROM {feat})
          AND (uid_l, uid_r) NOT IN (SELECT (uid_l, uid_r) FROM _er_cannot)
        GROUP BY ALL""")
    if everything or not exists:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _er_scope AS SELECT uid FROM {feat}")
    else:
        _scope(con, entity)
    _components(con)
    _hold_large(con, report)  # first: what re-linking by decisions then walks is small
    _apply_cannot_links(con, one_per_source=entity in CROSS_SOURCE)
    # the records held apart, kept for review (only those in this run's scope are decided again)
    held = _t(entity, "held")
    con.execute(f"CREATE TABLE IF NOT EXISTS {held} (uid VARCHAR PRIMARY KEY)")
    con.execute(f"DELETE FROM {held} WHERE uid IN (SELECT uid FROM _er_scope) OR uid NOT IN (SELECT uid FROM {feat})")
    con.execute(f"INSERT INTO {held} SELECT uid FROM _er_comp WHERE contains(comp, '|held|')")
    _assign_ids(con, entity, report, everything=everything or not exists)
    report.links = int(con.execute("SELECT count(*) FROM _er_links").fetchone()[0])
    report.clusters = int(con.execute(f"SELECT count(DISTINCT unified_id) FROM {clusters}").fetchone()[0])
    report.merged_records = int(con.execute(f"""SELECT count(*) FROM {clusters} WHERE unified_id IN (
        SELECT unified_id FROM {clusters} GROUP BY 1 HAVING count(*) > 1)""").fetchone()[0])
    report.review = _review(con, entity, floor, threshold)


def _scope(con, entity: str) -> None:
    """`_er_scope`: the changed records, and everything they reach through links (new ones) or shared
    an entity with (old ones), to a fixpoint."""
    clusters = _t(entity, "")
    con.execute("""CREATE OR REPLACE TEMP TABLE _er_scope AS
        SELECT uid FROM _er_changed_uid
        UNION SELECT uid_l FROM _er_links WHERE uid_r IN (SELECT uid FROM _er_changed_uid)
        UNION SELECT uid_r FROM _er_links WHERE uid_l IN (SELECT uid FROM _er_changed_uid)""")
    while True:
        before = con.execute("SELECT count(*) FROM _er_scope").fetchone()[0]
        con.execute(f"""INSERT INTO _er_scope
            SELECT DISTINCT uid FROM (
                SELECT c2.uid FROM {clusters} c1 JOIN {clusters} c2 USING (unified_id)
                WHERE c1.uid IN (SELECT uid FROM _er_scope)
                UNION SELECT uid_r FROM _er_links WHERE uid_l IN (SELECT uid FROM _er_scope)
                UNION SELECT uid_l FROM _er_links WHERE uid_r IN (SELECT uid FROM _er_scope)
            ) WHERE uid NOT IN (SELECT uid FROM _er_scope)""")
        if con.execute("SELECT count(*) FROM _er_scope").fetchone()[0] == before:
            break


def _components(con) -> int:
    """`_er_comp` (uid, comp): connected components of `_er_links` within `_er_scope` (Splink's clustering)."""
    from splink import DuckDBAPI
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    nodes = con.execute("SELECT uid FROM _er_scope").fetch_arrow_table()
    links = con.execute("""SELECT uid_l, uid_r, p AS match_probability FROM _er_links
                           WHERE uid_l IN (SELECT uid FROM _er_scope) AND uid_r IN (SELECT uid FROM _er_scope)"""
                        ).fetch_arrow_table()
    er = duckdb.connect(config={"threads": settings.DCL_DUCKDB_THREADS, "memory_limit": settings.DCL_ER_MEMORY_LIMIT})
    try:
        db = DuckDBAPI(connection=er)
        er.register("_nodes_in", nodes)
        er.register("_links_in", links)
        er.execute("CREATE TABLE nodes AS SELECT * FROM _nodes_in")
        er.execute("CREATE TABLE links AS SELECT * FROM _links_in")
        result = cluster_pairwise_predictions_at_threshold(
            db.register("nodes", table_name="er_nodes"), db.register("links", table_name="er_links"), db,
            node_id_column_name="uid")
        comp = er.execute(f"SELECT uid, cluster_id AS comp FROM {result.physical_name}").fetch_arrow_table()
    finally:
        er.close()
    con.register("_comp_in", comp)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _er_comp AS SELECT uid, CAST(comp AS VARCHAR) AS comp FROM _comp_in")
    finally:
        con.unregister("_comp_in")
    return comp.num_rows


class _Groups:
    """Union-find over a cluster's members (a cluster is small: the cap is MAX_CLUSTER)."""

    def __init__(self, members: list[str]) -> None:
        self.parent = {m: m for m in members}
        self.members = {m: {m} for m in members}

    def find(self, x: str) -> str:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            self.members[ra] |= self.members.pop(rb)


def _relabel(con, labels: dict[str, str]) -> None:
    """Give the records of `labels` their new component in `_er_comp`."""
    rows = pa.table({"uid": pa.array(list(labels), pa.string()), "comp": pa.array(list(labels.values()), pa.string())})
    con.register("_recomp_in", rows)
    try:
        con.execute("UPDATE _er_comp SET comp = r.comp FROM _recomp_in r WHERE _er_comp.uid = r.uid")
    finally:
        con.unregister("_recomp_in")


def _apply_cannot_links(con, *, one_per_source: bool = False) -> None:
    """A component holding a cannot-link pair — or, with `one_per_source` (CROSS_SOURCE entities), two records
    of one system — is re-linked within itself: people's must-links first, then the model's links strongest
    first, skipping any that would join two records a person separated or (not for a must-link) two records
    of one system. A copy of a deal links to its own original, not to a look-alike of it in the same system."""
    twice = ("UNION SELECT comp FROM _er_comp GROUP BY comp "
             "HAVING count(*) > count(DISTINCT split_part(uid, ':', 1))") if one_per_source else ""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _er_bad AS
                    SELECT DISTINCT a.comp FROM _er_cannot x JOIN _er_comp a ON a.uid = x.uid_l
                    JOIN _er_comp b ON b.uid = x.uid_r WHERE a.comp = b.comp {twice}""")
    if not con.execute("SELECT count(*) FROM _er_bad").fetchone()[0]:
        return
    cannot = {(a, b) for a, b in con.execute("SELECT uid_l, uid_r FROM _er_cannot").fetchall()}
    members: dict[str, list[str]] = {}
    rows = con.execute("SELECT uid, comp FROM _er_comp SEMI JOIN _er_bad USING (comp) ORDER BY uid").fetchall()
    for uid, comp in rows:
        members.setdefault(comp, []).append(uid)
    links: dict[str, list[tuple[str, str, bool]]] = {}
    for comp, a, b, must in con.execute("""
            SELECT a.comp, l.uid_l, l.uid_r, (l.uid_l, l.uid_r) IN (SELECT (uid_l, uid_r) FROM _er_must) AS must
            FROM _er_links l JOIN _er_comp a ON a.uid = l.uid_l JOIN _er_comp b ON b.uid = l.uid_r AND b.comp = a.comp
            SEMI JOIN _er_bad bad ON bad.comp = a.comp
            ORDER BY a.comp, must DESC, l.p DESC, l.uid_l, l.uid_r""").fetchall():
        links.setdefault(comp, []).append((a, b, must))
    labels: dict[str, str] = {}
    for comp, uids in members.items():
        groups = _Groups(uids)
        for a, b, must in links.get(comp, ()):
            ra, rb = groups.find(a), groups.find(b)
            if ra == rb or any((min(x, y), max(x, y)) in cannot
                               for x in groups.members[ra] for y in groups.members[rb]):
                continue
            if one_per_source and not must and ({m.split(":", 1)[0] for m in groups.members[ra]}
                                                & {m.split(":", 1)[0] for m in groups.members[rb]}):
                continue
            groups.join(ra, rb)
        labels.update({m: f"{comp}|{groups.find(m)}" for m in uids})
    _relabel(con, labels)


def _hold_large(con, report: Report) -> None:
    """A component larger than MAX_CLUSTER is chained by weak links more likely than it is one thing:
    keep only its links at STRICT_PROBABILITY (and must-links); what is still too large is held — its
    records stay apart — and reported."""
    big = con.execute(f"SELECT comp, count(*) FROM _er_comp GROUP BY 1 HAVING count(*) > {MAX_CLUSTER}").fetchall()
    for comp, size in big:
        members = [r[0] for r in con.execute("SELECT uid FROM _er_comp WHERE comp = ?", [comp]).fetchall()]
        links = con.execute(f"""SELECT uid_l, uid_r FROM _er_links WHERE p >= {STRICT_PROBABILITY}
                                AND uid_l IN (SELECT uid FROM _er_comp WHERE comp = $1)
                                AND uid_r IN (SELECT uid FROM _er_comp WHERE comp = $1)""", [comp]).fetchall()
        groups = _Groups(members)
        for a, b in links:
            groups.join(a, b)
        labels = {}
        for root, group in groups.members.items():
            if len(group) > MAX_CLUSTER:
                report.held.append(len(group))
                labels.update({m: f"{comp}|held|{m}" for m in group})
            else:
                labels.update({m: f"{comp}|{root}" for m in group})
        _relabel(con, labels)
        logger.warning("entity resolution: a cluster of %s records was split or held (more than %s)", size,
                       MAX_CLUSTER)


def _assign_ids(con, entity: str, report: Report, *, everything: bool) -> None:
    """Give each component of `_er_comp` its unified id and write it into `_er_<entity>` (see the module
    docstring). A record's `first_seen` is the run it first appeared in (then its `_txn`, then its uid):
    "oldest" is in that order."""
    feat, clusters = _t(entity, "feat"), _t(entity, "")
    prefix = ID_PREFIX[entity]
    exists = clusters in store.existing_tables(con)
    if not exists:
        con.execute(f"""CREATE TABLE {clusters} (uid VARCHAR PRIMARY KEY, _connection_id BIGINT, _source_id VARCHAR,
                        unified_id VARCHAR, probability DOUBLE, first_seen BIGINT)""")
    _seed_previous_ids(con, entity, first=not exists)
    run = int(con.execute(f"SELECT coalesce(max(first_seen), 0) + 1 FROM {clusters}").fetchone()[0])
    # previous ids and ages of the records in scope (new records: this run)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _er_members AS
        SELECT c.uid, c.comp, f._connection_id, f._source_id, f._txn,
               p.unified_id AS prev_id, coalesce(p.first_seen, {run}) AS first_seen,
               coalesce(s.seeded_id, p.unified_id) AS held_id
        FROM _er_comp c JOIN {feat} f USING (uid)
        LEFT JOIN {clusters} p USING (uid)
        LEFT JOIN _er_seed s USING (uid)""")
    # each component's oldest member; components claim that member's id, oldest claimant first
    # a cluster without an id to keep takes one from its oldest record: from the rules' key when the entity
    # has rules (the id the rules gave it: accounts keep `acc_<md5 of d:domain>`), else from the record
    alone = (f"'{prefix}_' || substr(md5(head), 1, 20)" if entity in PER_RECORD_IDS
             else f"'{prefix}_' || substr(md5('r:' || head), 1, 20)")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _er_claims AS
        WITH oldest AS (
            SELECT comp, arg_min(held_id, (first_seen, _txn, uid)) AS want,
                   arg_min(uid, (first_seen, _txn, uid)) AS head,
                   min((first_seen, _txn, uid)) AS age
            FROM _er_members GROUP BY comp
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY want ORDER BY age) AS rnk FROM oldest
        ), proposed AS (
            SELECT r.comp, r.age, r.head, want IS NOT NULL AND rnk = 1 AS keeps,
                   CASE WHEN want IS NOT NULL AND rnk = 1 THEN want
                        WHEN k._key IS NOT NULL THEN '{prefix}_' || substr(md5(k._key), 1, 20)
                        ELSE {alone} END AS id0
            FROM ranked r LEFT JOIN _er_rules k ON k.uid = r.head
        )
        SELECT comp, CASE WHEN row_number() OVER (PARTITION BY id0 ORDER BY NOT keeps, age) = 1 THEN id0
                          ELSE {alone} END AS unified_id
        FROM proposed""")
    # a new id that some other live cluster (outside the scope) holds: take a fresh one from the head
    con.execute(f"""UPDATE _er_claims
        SET unified_id = '{prefix}_' || substr(md5('r2:' || comp || ':' || unified_id), 1, 20)
        WHERE unified_id IN (SELECT unified_id FROM {clusters} WHERE uid NOT IN (SELECT uid FROM _er_members))""")
    # the strongest link joining each record to its cluster
    con.execute("""CREATE OR REPLACE TEMP TABLE _er_prob AS
        SELECT uid, max(p) AS p FROM (
            SELECT l.uid_l AS uid, l.p FROM _er_links l JOIN _er_comp a ON a.uid = l.uid_l JOIN _er_comp b
                ON b.uid = l.uid_r AND a.comp = b.comp
            UNION ALL SELECT l.uid_r, l.p FROM _er_links l JOIN _er_comp a ON a.uid = l.uid_l JOIN _er_comp b
                ON b.uid = l.uid_r AND a.comp = b.comp) GROUP BY uid""")
    # redirects: an id held before by records in scope that no cluster holds now → the id its oldest
    # record's cluster holds now
    redirects = con.execute(f"""
        WITH prev AS (
            SELECT held_id, arg_min(comp, (first_seen, _txn, uid)) AS comp FROM _er_members
            WHERE held_id IS NOT NULL GROUP BY held_id
        )
        SELECT prev.held_id, c.unified_id FROM prev JOIN _er_claims c USING (comp)
        WHERE prev.held_id NOT IN (SELECT unified_id FROM _er_claims)
          AND prev.held_id NOT IN (SELECT unified_id FROM {clusters} WHERE uid NOT IN (SELECT uid FROM _er_members))
        """).fetchall()
    report.redirects.update(dict(redirects))
    con.execute("BEGIN TRANSACTION")
    try:
        if everything:
            con.execute(f"DELETE FROM {clusters}")
        else:
            con.execute(f"DELETE FROM {clusters} WHERE uid IN (SELECT uid FROM _er_members) "
                        f"OR uid NOT IN (SELECT uid FROM {feat})")
        con.execute(f"""INSERT INTO {clusters}
            SELECT m.uid, m._connection_id, m._source_id, c.unified_id, pr.p, m.first_seen
            FROM _er_members m JOIN _er_claims c USING (comp) LEFT JOIN _er_prob pr USING (uid)""")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _seed_previous_ids(con, entity: str, *, first: bool) -> None:
    """`_er_seed` (uid, seeded_id): on the `first` run, each record's id in the view the rules built before
    (`view_<entity>` and its lineage), so entity resolution does not rename every entity; empty after."""
    con.execute("CREATE OR REPLACE TEMP TABLE _er_seed (uid VARCHAR, seeded_id VARCHAR)")
    if first and entity in PER_RECORD_IDS:
        # each record's own row id (dcl/unify.py `per_record_id_sql`): the records a cluster absorbs redirect
        con.execute(f"""INSERT INTO _er_seed SELECT uid, '{ID_PREFIX[entity]}_' || substr(md5(uid), 1, 20)
                        FROM {_t(entity, "feat")}""")
        return
    view = f"view_{store.ident(entity)}"
    if not first or store.relation_kind(con, view) != "TABLE":
        return
    columns = store.table_columns(con, view)
    if not {"unified_id", "_src_connection_id", "_src_id", "_sources_multi"} <= columns.keys():
        return
    con.execute(f"""INSERT INTO _er_seed
        SELECT DISTINCT ON (uid) uid, unified_id FROM (
            SELECT _src_connection_id || ':' || _src_id AS uid, unified_id FROM {view} WHERE _sources_multi IS NULL
            UNION ALL
            SELECT s.connection_id || ':' || s.source_id, unified_id FROM (
                SELECT unified_id, unnest(from_json(_sources_multi,
                    '[{{"connection_id": "BIGINT", "source_id": "VARCHAR"}}]')) AS s
                FROM {view} WHERE _sources_multi IS NOT NULL))""")


def _review(con, entity: str, floor: float, threshold: float) -> list[dict]:
    """Pairs for a person (strongest first, at most MAX_REVIEW_ITEMS): those between the floor and the
    threshold whose records are in different clusters, and the links between records held apart
    because their cluster was too large (`_hold_large`: the chain is for a person to cut). Not a pair
    whose two clusters are already kept apart (a cannot-link between them: a decision or a parent
    company): approving it could not merge them."""
    edges, clusters, held = _t(entity, "edges"), _t(entity, ""), _t(entity, "held")
    rows = con.execute(f"""
        SELECT a._connection_id, a._source_id, b._connection_id, b._source_id, e.p, e.w, e.waterfall,
               a.unified_id, b.unified_id
        FROM {edges} e JOIN {clusters} a ON a.uid = e.uid_l JOIN {clusters} b ON b.uid = e.uid_r
        WHERE e.p >= {floor} AND a.unified_id <> b.unified_id
          AND (e.p < {threshold} OR (e.uid_l IN (SELECT uid FROM {held}) AND e.uid_r IN (SELECT uid FROM {held})))
          AND (e.uid_l, e.uid_r) NOT IN (SELECT (uid_l, uid_r) FROM _er_cannot)
          AND (e.uid_l, e.uid_r) NOT IN (SELECT (uid_l, uid_r) FROM _er_must)
          AND (least(a.unified_id, b.unified_id), greatest(a.unified_id, b.unified_id)) NOT IN (
              SELECT (least(ca.unified_id, cb.unified_id), greatest(ca.unified_id, cb.unified_id))
              FROM _er_cannot x JOIN {clusters} ca ON ca.uid = x.uid_l JOIN {clusters} cb ON cb.uid = x.uid_r)
        ORDER BY e.p DESC, e.uid_l, e.uid_r LIMIT {MAX_REVIEW_ITEMS}""").fetchall()
    return [{"left": (int(r[0]), r[1]), "right": (int(r[2]), r[3]), "probability": float(r[4]),
             "match_weight": float(r[5]), "waterfall": json.loads(r[6]) if r[6] else [],
             "left_unified_id": r[7], "right_unified_id": r[8]} for r in rows]


# --- why records are one ---------------------------------------------------------------------------------


def explain(con, entity: str, records: list[tuple[int, str]]) -> list[dict]:
    """Why the `records` of one unified entity are together: for each record, the strongest link joining
    it to another of them — a person's decision, the entity's rules (accounts: one website domain), or
    the model, with its waterfall scored again from the stored model (Splink's `score_pair`). A read:
    `con` may be read-only. Each: {left, right, kind: decision|rule|model, probability, waterfall}."""
    uids = [f"{c}:{s}" for c, s in records]
    if len(uids) < 2 or _t(entity, "") not in store.existing_tables(con):
        return []
    tables = store.existing_tables(con)
    placeholders = ", ".join("?" for _ in uids)
    edges = con.execute(f"""SELECT uid_l, uid_r, p FROM {_t(entity, 'edges')}
                            WHERE uid_l IN ({placeholders}) AND uid_r IN ({placeholders})
                            ORDER BY p DESC, uid_l, uid_r""", uids + uids).fetchall() \
        if _t(entity, "edges") in tables else []
    joined = {r[0]: r[1] for r in con.execute(
        f"SELECT uid, probability FROM {_t(entity, '')} WHERE uid IN ({placeholders})", uids).fetchall()}
    out, seen = [], set()
    for uid in uids:
        best = next(((a, b, p) for a, b, p in edges if uid in (a, b)), None)
        probability = joined.get(uid)
        if best is None or probability is None or best[2] < probability - 1e-9:
            # joined by certainty: a person's must-link or the entity's rules (probability 1.0)
            if probability is not None and probability >= 1.0:
                other = next((u for u in uids if u != uid), None)
                pair = tuple(sorted((uid, other)))
                if pair not in seen:
                    seen.add(pair)
                    out.append({"left": _record(pair[0]), "right": _record(pair[1]), "kind": "certain",
                                "probability": 1.0, "waterfall": []})
            continue
        pair = (best[0], best[1])
        if pair in seen:
            continue
        seen.add(pair)
        out.append({"left": _record(pair[0]), "right": _record(pair[1]), "kind": "model",
                    "probability": float(best[2]), "waterfall": _score(con, entity, pair)})
    return out


def _record(uid: str) -> tuple[int, str]:
    connection_id, _, source_id = uid.partition(":")
    return int(connection_id), source_id


def _score(con, entity: str, pair: tuple[str, str]) -> list[dict]:
    """The stored model's waterfall for one pair (empty when there is no model to ask)."""
    model = con.execute("SELECT model, records FROM _er_model WHERE entity = ?", [entity]).fetchone() \
        if "_er_model" in store.existing_tables(con) else None
    plan = con.execute("SELECT plan FROM _er_plan WHERE entity = ?", [entity]).fetchone() \
        if "_er_plan" in store.existing_tables(con) else None
    if not model or not plan:
        return []
    plan = json.loads(plan[0])
    design = _design(entity, plan["usable"], int(model[1]), joint_place=plan["joint_place"])
    if design is None:
        return []
    rows = con.execute(f"SELECT * EXCLUDE (_connection_id, _source_id, _txn) FROM {_t(entity, 'feat')} "
                       "WHERE uid IN (?, ?) ORDER BY uid", list(pair)).fetch_arrow_table()
    if rows.num_rows != 2:
        return []
    settings_dict = json.loads(model[0])
    sp = _Splink(rows, settings_dict)
    try:
        if _t(entity, "tf") in store.existing_tables(con):
            sp.term_frequencies(con, entity, design.tf)
        left, right = rows.to_pylist()
        scored = sp.linker.inference.score_pair(left, right).as_duckdbpyrelation().fetch_arrow_table()
        return json.loads(_waterfalls(sp, design, scored)[0])
    finally:
        sp.close()
