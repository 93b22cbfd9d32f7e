"""Unified views in DuckDB: every source's records of an entity, the same real-world thing merged.

- account: merged across sources by website domain, else by normalized company name (a name that
  maps to exactly one domain anywhere joins that domain's cluster); within a domain, names that
  clearly name different companies of one brand (Coho Logistics / Coho Software at coho.io) are
  separate accounts, while spacing, legal-suffix and typo variants still merge
  (`Unifier._split_domain_clusters`);
- contact: merged by e-mail address;
- cloud_resource: merged by provider + resource id;
- opportunity, cost and any other entity: one row per source record; with entity resolution (deals
  in two systems, dcl/resolution/), one row per cluster: the freshest of its records (`cluster_rows`).
Contacts, opportunities, costs and cloud resources link to a unified account where they can: by
the account id of the same connection, by a source account id found in exactly one account, by
the contact's e-mail domain (not free-mail), or by a cost's billing/sub-account id.

Merged values: per field, the freshest non-null value (updated_at, else created_at, else when it
was ingested). Lineage: every view row keeps its sources (connection, kind, object, source id).

Each `view_<entity>` has the columns `unified_id`, the entity's canonical fields, `account_unified_id`
(linked entities), `source_count`, and the lineage columns `_src_connection_id`, `_src_kind`,
`_src_object`, `_src_id` (the first source) and `_sources_multi` (JSON list, only when merged).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

import duckdb
import pyarrow as pa

from aam.ingest.kinds import DECIMAL_PRECISION, DECIMAL_SCALE, Kind

from . import store
from .reporting import CONVERSIONS, FxContext, reporting_columns_add, reporting_fields
from .valuemap import ValueField, ValueSql, ensure_tables, value_fields_of

LINKED_ENTITIES = ("contact", "opportunity", "cost", "cloud_resource")
# Entities whose records are merged across sources (a DuckDB table per build); every other entity's view
# is one row per source record (`Unifier._per_record`).
MERGED_ENTITIES = ("account", "contact", "cloud_resource")
ID_PREFIX = {"account": "acc", "contact": "con", "opportunity": "opp", "cost": "cst", "cloud_resource": "res"}
FREE_MAIL = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "icloud.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "web.de",
    "mail.com",
    "yandex.com",
)
_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_COMPANY_SUFFIXES = (
    r"\b(inc|incorporated|llc|l l c|ltd|limited|corp|corporation|co|company|gmbh|ag|sa|s a|plc|bv|"
    r"pty|srl|oy|ab|as|nv|the)\b"
)
# Words that name a company's form or reach, not its line of business: "Acme Group" and "Acme International"
# do not disagree the way "Coho Logistics" and "Coho Software" do. Only left out of that comparison.
_GROUP_WORDS = (
    r"\b(group|holding|holdings|international|intl|global|worldwide|enterprise|enterprises|partners|"
    r"uk|us|usa|eu|emea|apac|latam|americas|europe|asia)\b"
)
# Second-level labels under a country code (coho.co.uk: the brand is `coho`, not `co`).
_SECOND_LEVEL = ("co", "com", "org", "net", "ac", "gov", "edu", "ltd", "plc", "ne", "or")
# Two names of one domain cluster are different companies when what each adds to the shared brand differs
# this much (Jaro-Winkler below; "logistics" / "software" 0.49, "widgets" / "gadgets" 0.81, typos such as
# "logistics" / "logistcs" 0.98, "financial" / "finance" 0.90), neither contains the other nor abbreviates it
# ("mfg" / "manufacturing": its letters in order, from the first, in a word at least twice as long), and each
# adds at least MIN_DISTINCT characters.
NAME_SPLIT_SIMILARITY = 0.85
NAME_SPLIT_MIN_DISTINCT = 3
# A domain cluster with more distinct such names than this is compared by exact name only (a shared
# placeholder or portal domain, not one company's variants): keeps the pairwise step small.
NAME_SPLIT_MAX_NAMES = 50

DUCK_TYPES = {
    Kind.STRING: "VARCHAR",
    Kind.DECIMAL: f"DECIMAL({DECIMAL_PRECISION}, {DECIMAL_SCALE})",
    Kind.INTEGER: "BIGINT",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.DATE: "DATE",
    Kind.DATETIME: "TIMESTAMPTZ",
    Kind.JSON: "VARCHAR",
}
LINEAGE_COLUMNS = ("_src_connection_id", "_src_kind", "_src_object", "_src_id", "_sources_multi")
# Links a view computes between its own unified rows: an account's parent company, linked, not merged
# (`Unifier._account_parents`).
LINK_FIELDS = {"account": {"parent_unified_id": Kind.STRING}}


@dataclass(frozen=True)
class ViewSpec:
    entity: str
    # the view's field columns → kind, in ontology order: each value-mapped field F followed by
    # F_source and F_status, then the derived fields (dcl/valuemap.py)
    fields: dict[str, Kind]
    linked: bool  # has account_unified_id
    values: dict[str, ValueField] = dataclass_field(default_factory=dict)  # the value-mapped fields
    per_record: bool = False  # one row per source record (not merged)

    @property
    def value_columns(self) -> set[str]:
        """Columns computed from the value maps (F, F_source, F_status of each value field)."""
        return {c for vf in self.values.values() for c in (vf.name, vf.source_column, vf.status_column) if c}

    @property
    def read_time_values(self) -> bool:
        """A per-record view with canonical values: PostgreSQL computes them when the view is read (a
        join onto the value-map mirrors, dcl/valuemap.py `PgDialect`); its data table holds the records
        as they came (`stored_fields`)."""
        return self.per_record and bool(self.values)

    @property
    def stored_fields(self) -> dict[str, Kind]:
        """The field columns of the PostgreSQL data table: all of `fields`, except for `read_time_values`
        where a value field's column holds the record's raw value as text and its F_source, F_status
        and the derived fields are left to the view."""
        if not self.read_time_values:
            return self.fields
        own = {vf.name for vf in self.values.values() if not vf.derived}
        computed = self.value_columns - own
        return {n: (Kind.STRING if n in own else k) for n, k in self.fields.items() if n not in computed}

    @property
    def columns(self) -> list[str]:
        cols = ["unified_id", *self.fields]
        if self.linked:
            cols.append("account_unified_id")
        return cols + ["source_count", *LINEAGE_COLUMNS]


def view_spec(entity: str, fields: dict[str, Kind], *, values: bool | None = None) -> ViewSpec:
    """The view of `entity` over its canonical `fields`; with `values` (the setting
    DCL_CANONICAL_VALUES when None), each field with a canonical value set gets its F_source and
    F_status beside it, and the derived fields follow."""
    if values is None:
        from django.conf import settings

        values = settings.DCL_CANONICAL_VALUES
    vfields = value_fields_of(entity, dict(fields)) if values else {}
    columns: dict[str, Kind] = {}
    derived_sources = {vf.reads: vf.source_column for vf in vfields.values() if vf.derived and vf.source_column}
    for name, kind in fields.items():
        columns[name] = vfields[name].kind if name in vfields else kind
        if name in vfields:
            columns[vfields[name].source_column] = Kind.STRING
            columns[vfields[name].status_column] = Kind.STRING
        elif name in derived_sources:
            columns[derived_sources[name]] = Kind.STRING  # stage_source beside stage
    for vf in vfields.values():
        if vf.derived:
            columns[vf.name] = vf.kind
            columns[vf.status_column] = Kind.STRING
    return ViewSpec(entity=entity, fields={**columns, **reporting_fields(entity), **LINK_FIELDS.get(entity, {})},
                    linked=entity in LINKED_ENTITIES,
                    values=vfields, per_record=entity not in MERGED_ENTITIES)


def _domain_sql(expr: str) -> str:
    return (
        f"nullif(regexp_replace(regexp_replace(regexp_replace(lower(trim({expr})), '^[a-z][a-z0-9+.-]*://', ''), "
        f"'^www[0-9]*\\.', ''), '[/:?#].*$', ''), '')"
    )


def _name_sql(expr: str) -> str:
    cleaned = f"regexp_replace(lower({expr}), '[^a-z0-9]+', ' ', 'g')"
    no_suffix = f"regexp_replace({cleaned}, '{_COMPANY_SUFFIXES}', ' ', 'g')"
    return f"nullif(trim(regexp_replace({no_suffix}, '\\s+', ' ', 'g')), '')"


def _abbreviates(short: str, long: str) -> str:
    """SQL: `short` abbreviates `long` ("mfg" / "manufacturing", "bros" / "brothers", "svcs" / "services"):
    its letters appear in `long` in order, from the first, and `long` is at least twice as long. Both are
    name parts of [a-z0-9] only, so `short` is a safe pattern."""
    return (
        f"(length({short}) BETWEEN 3 AND 6 AND length({long}) >= 2 * length({short}) "
        f"AND regexp_matches({long}, '^' || regexp_replace({short}, '(.)', '\\1.*', 'g')))"
    )


def _brand_sql(domain: str) -> str:
    """The domain's own label, letters and digits only: `coho` for coho.io and shop.coho.co.uk, `cohoeu` for
    coho-eu.com."""
    parts = f"string_split({domain}, '.')"
    second_level = ", ".join(f"'{p}'" for p in _SECOND_LEVEL)
    label = (
        f"CASE WHEN len({parts}) >= 3 AND length({parts}[-1]) = 2 AND {parts}[-2] IN ({second_level}) "
        f"THEN {parts}[-3] WHEN len({parts}) >= 2 THEN {parts}[-2] ELSE {parts}[1] END"
    )
    return f"regexp_replace({label}, '[^a-z0-9]+', '', 'g')"


def _col(available: dict[str, str], name: str, kind: Kind, alias: str = "s") -> str:
    """A source-table column, or a typed NULL when no source ever filled that field."""
    if name in available:
        return f"{alias}.{store.quote(name)}"
    return f"NULL::{DUCK_TYPES[kind]}"


def _recency(available: dict[str, str]) -> str:
    parts = [f"s.{c}" for c in ("updated_at", "created_at") if c in available and available[c].startswith("TIMESTAMP")]
    return f"coalesce({', '.join(parts + ['s._ingested_at'])})"


class Unifier:
    """Builds `view_<entity>` for the entities present in the tenant's store (writer lock held)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, specs: dict[str, ViewSpec], connection_kinds: dict[int, str],
                 fx: FxContext | None = None, resolving: set[str] | None = None):
        self.con = con
        # the entities entity resolution clusters in this materialization (None: wherever its clusters exist)
        self.resolving = resolving
        self.fx = fx  # the tenant's reporting currency and rates (dcl/reporting.py); None: no conversion
        self.specs = specs
        self.tables = store.existing_tables(con)
        kinds = pa.table(
            {
                "connection_id": pa.array(list(connection_kinds), pa.int64()),
                "kind": pa.array(list(connection_kinds.values()), pa.string()),
            }
        )
        con.register("_kinds_in", kinds)
        con.execute("CREATE OR REPLACE TABLE _conn_kinds AS SELECT * FROM _kinds_in")
        con.unregister("_kinds_in")
        ensure_tables(con)  # empty until the value stage ran: every value shows pending
        self.has_accounts = False
        self._account_keys = False  # `_acc_keys` built in this materialization

    def present(self) -> list[str]:
        """Entities with a source table, accounts first (the others link to them)."""
        names = [e for e in self.specs if store.source_table(e) in self.tables]
        return sorted(names, key=lambda e: (e != "account", e != "contact", e))

    def build(self, entity: str, scope: str | None = None) -> None:
        """Build `view_<entity>`. With `scope` (a per-record entity only: a table of `_connection_id`,
        `_source_id`), build instead `delta_relations(entity)`: the same rows restricted to those
        records, for an incremental publication (docs/adr/0022-incremental-views.md); the full
        relations stay as they are."""
        spec = self.specs[entity]
        available = store.table_columns(self.con, store.source_table(entity))
        if scope is not None and not spec.per_record:
            raise ValueError(f"{entity} is merged: its view is built whole")
        if entity == "account":
            self._accounts(spec, available)
        elif entity == "contact" and self._resolved(entity):
            # entity resolution's clusters (dcl/resolution/): the cluster's unified id is the key
            self._merged(spec, available, key=f"coalesce(er.unified_id, {_row_id_sql(entity)})", key_is_id=True,
                         key_join=f"LEFT JOIN {resolved_table(entity)} er "
                                  "ON er._connection_id = s._connection_id AND er._source_id = s._source_id",
                         probability="er.probability")
        elif entity == "contact":
            self._merged(spec, available, key=self._contact_key(available))
        elif entity == "cloud_resource":
            key = (
                (
                    "CASE WHEN s.id IS NOT NULL THEN 'c:' || lower(coalesce("
                    + _col(available, "provider_name", Kind.STRING)
                    + ", '')) || ':' || lower(s.id) END"
                )
                if "id" in available
                else "NULL"
            )
            self._merged(spec, available, key=key)
        else:
            view, published = self._per_record(spec, available, scope=scope)
            currency = CONVERSIONS[entity].currency if entity in CONVERSIONS else None
            relations = {view: currency}
            if spec.read_time_values:
                # the published rows' reporting columns, and the pairs of both, from the canonical currency
                relations = {published: _CURRENCY if currency in spec.values else currency, view: currency}
            reporting_columns_add(self.con, entity, self.fx, relations=relations, merge=scope is not None)
            return
        reporting_columns_add(self.con, entity, self.fx)

    def _resolved(self, entity: str) -> bool:
        """Entity resolution ran for `entity` (its clusters are in the store) and is on."""
        from django.conf import settings

        if self.resolving is not None and entity not in self.resolving:
            return False
        return settings.DCL_ER and resolved_table(entity) in store.existing_tables(self.con)

    def cluster_rows(self, entity: str) -> None:
        """`cluster_rows_table(entity)` of a per-record entity that entity resolution clusters: each record
        in a cluster of two or more, or holding an id not its own (its cluster's others are gone), with
        the cluster's id and size, its sources (as `_sources_multi`) and whether it is the cluster's
        survivor — its freshest record (updated_at, else created_at, else when it was ingested), whose
        values the view shows. A cluster's row carries one record's values, not a field-by-field merge:
        the view's canonical values are computed per record from its own system's codes when it is read
        (`ViewSpec.read_time_values`), so a row mixing systems' raw values could not be read."""
        table = cluster_rows_table(entity)
        if not self._resolved(entity):
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
            return
        available = store.table_columns(self.con, store.source_table(entity))
        own_id = per_record_id_sql(entity, "er")
        order = "r._connection_id, r._source_id"
        self.con.execute(f"""
            CREATE OR REPLACE TABLE {table} AS
            WITH m AS (
                SELECT er._connection_id, er._source_id, er.unified_id, er.probability
                FROM {resolved_table(entity)} er
                WHERE er.unified_id IN (SELECT unified_id FROM {resolved_table(entity)} GROUP BY 1 HAVING count(*) > 1)
                   OR er.unified_id <> {own_id}
            ), r AS (
                SELECT m.*, s._source_object, ck.kind AS _kind, {_recency(available)} AS _rec
                FROM m JOIN {store.source_table(entity)} s USING (_connection_id, _source_id)
                LEFT JOIN _conn_kinds ck ON ck.connection_id = m._connection_id
                WHERE NOT s._deleted
            ), c AS (
                SELECT unified_id, count(*)::INTEGER AS source_count,
                       arg_max(r._connection_id || ':' || r._source_id, (r._rec, {order})) AS survivor,
                       CASE WHEN count(*) > 1 THEN to_json(list({{'connection_id': r._connection_id,
                            'connection_kind': r._kind, 'source_object': r._source_object,
                            'source_id': r._source_id, 'probability': round(r.probability, 4)}}
                            ORDER BY {order}))::VARCHAR END AS sources_multi
                FROM r GROUP BY unified_id
            )
            SELECT r._connection_id, r._source_id, r.unified_id, c.source_count, c.sources_multi,
                   r._connection_id || ':' || r._source_id = c.survivor AS survivor
            FROM r JOIN c USING (unified_id)""")

    def accounts_known(self) -> None:
        """The account link tables of an earlier build serve this one (accounts were not rebuilt)."""
        self.has_accounts = "_acc_link" in store.existing_tables(self.con)

    def _drop(self, name: str) -> None:
        """Drop a view or table of that name (an entity can change from merged to per-record)."""
        if store.relation_kind(self.con, name) == "VIEW":
            self.con.execute(f"DROP VIEW {name}")
        self.con.execute(f"DROP TABLE IF EXISTS {name}")

    # --- accounts ------------------------------------------------------------------------

    def account_keys(self) -> str:
        """`_acc_keys`: each live account record's rule key (`_key`: its website domain, else its name
        when that maps to one domain, else the record) and domain (`_cd`), with a domain's records split
        by company name (`_split_domain_clusters`). Entity resolution links by these (dcl/resolution/);
        returns the table's name. Built once per materialization."""
        if self._account_keys:
            return "_acc_keys"
        available = store.table_columns(self.con, store.source_table("account"))
        website = _col(available, "website", Kind.STRING)
        name = _col(available, "name", Kind.STRING)
        self.con.execute(f"""
            CREATE OR REPLACE TABLE _acc_keys AS
            WITH b AS (
                SELECT s._connection_id, s._source_id, {_domain_sql(website)} AS _domain, {_name_sql(name)} AS _nname
                FROM src_account s WHERE NOT s._deleted
            ), nd AS (
                SELECT _nname, min(_domain) AS d FROM b
                WHERE _domain IS NOT NULL AND _nname IS NOT NULL GROUP BY _nname HAVING count(DISTINCT _domain) = 1
            )
            SELECT b._connection_id, b._source_id, b._domain, b._nname, coalesce(b._domain, nd.d) AS _cd,
                   coalesce('d:' || b._domain, 'd:' || nd.d, 'n:' || b._nname,
                            'r:' || b._connection_id || ':' || b._source_id) AS _key
            FROM b LEFT JOIN nd USING (_nname)""")
        self._split_domain_clusters()
        self._account_keys = True
        return "_acc_keys"

    def _accounts(self, spec: ViewSpec, available: dict[str, str]) -> None:
        self.account_keys()
        if self._resolved("account"):
            # entity resolution's clusters: the rules' keys and people's decisions, and the model's links for
            # records the rules cannot place
            self._merged(spec, available, key=f"coalesce(er.unified_id, {_row_id_sql('account')})", key_is_id=True,
                         key_join=f"LEFT JOIN {resolved_table('account')} er "
                                  "ON er._connection_id = s._connection_id AND er._source_id = s._source_id",
                         probability="er.probability")
            unified = f"""SELECT k._connection_id, k._source_id, k._domain, k._nname,
                                 coalesce(er.unified_id, {_row_id_sql('account', 'k')}) AS unified_id
                          FROM _acc_keys k LEFT JOIN {resolved_table('account')} er
                          ON er._connection_id = k._connection_id AND er._source_id = k._source_id"""
        else:
            self._merged(spec, available, key="k._key", key_join="JOIN _acc_keys k USING (_connection_id, _source_id)")
            unified = """SELECT k._connection_id, k._source_id, k._domain, k._nname, v.unified_id
                         FROM _acc_keys k JOIN _acc_unified_keys v USING (_key)"""
        # Link tables: each source account record → its unified account.
        self.con.execute(f"CREATE OR REPLACE TABLE _acc_link AS {unified}")
        self.con.execute("""
            CREATE OR REPLACE TABLE _acc_byid AS
            SELECT _source_id, min(unified_id) AS unified_id FROM _acc_link
            GROUP BY _source_id HAVING count(DISTINCT unified_id) = 1""")
        self.con.execute("""
            CREATE OR REPLACE TABLE _acc_bydomain AS
            SELECT _domain, min(unified_id) AS unified_id FROM _acc_link WHERE _domain IS NOT NULL
            GROUP BY _domain HAVING count(DISTINCT unified_id) = 1""")
        self.con.execute("""
            CREATE OR REPLACE TABLE _acc_byname AS
            SELECT _nname, min(unified_id) AS unified_id FROM _acc_link WHERE _nname IS NOT NULL
            GROUP BY _nname HAVING count(DISTINCT unified_id) = 1""")
        self._account_parents(available)
        self.has_accounts = True

    def account_parent_pairs(self) -> str | None:
        """`_acc_parents` (uid_l, uid_r): each live account record and its parent company's record in the same
        system (`parent_account_id`), which entity resolution keeps apart — a subsidiary is linked to its
        parent, never merged into it, even at one website domain; None when no source names a parent."""
        available = store.table_columns(self.con, store.source_table("account"))
        if "parent_account_id" not in available:
            return None
        self.con.execute("""
            CREATE OR REPLACE TEMP TABLE _acc_parents AS
            SELECT DISTINCT least(a, b) AS uid_l, greatest(a, b) AS uid_r FROM (
                SELECT c._connection_id || ':' || c._source_id AS a, p._connection_id || ':' || p._source_id AS b
                FROM src_account c JOIN src_account p ON p._connection_id = c._connection_id
                 AND p._source_id = CAST(c.parent_account_id AS VARCHAR)
                WHERE NOT c._deleted AND NOT p._deleted AND c._source_id <> p._source_id)""")
        return "_acc_parents"

    def _account_parents(self, available: dict[str, str]) -> None:
        """`parent_unified_id` of each unified account: the unified account its records name as their parent
        (`parent_account_id`: a record of the same system, else an id that names one account anywhere), the
        freshest record's when they disagree; never the account itself."""
        if "parent_account_id" not in available:
            return
        parent = "CAST(s.parent_account_id AS VARCHAR)"
        self.con.execute(f"""
            UPDATE view_account SET parent_unified_id = p.parent FROM (
                SELECT l.unified_id, arg_max(coalesce(pl.unified_id, pb.unified_id), {_recency(available)})
                       FILTER (WHERE coalesce(pl.unified_id, pb.unified_id) IS NOT NULL) AS parent
                FROM src_account s JOIN _acc_link l USING (_connection_id, _source_id)
                LEFT JOIN _acc_link pl ON pl._connection_id = s._connection_id AND pl._source_id = {parent}
                LEFT JOIN _acc_byid pb ON pb._source_id = {parent}
                WHERE NOT s._deleted AND s.parent_account_id IS NOT NULL
                GROUP BY l.unified_id
            ) p WHERE view_account.unified_id = p.unified_id AND p.parent IS DISTINCT FROM view_account.unified_id""")

    def _split_domain_clusters(self) -> None:
        """Splits a website domain's records into one account per company when their names clearly differ.

        Coho Logistics and Coho Software, both at coho.io, are two accounts: what each name adds to the domain's
        brand ("logistics", "software") differs clearly. Names that vary only by spacing, legal suffix or a typo
        ("Harbor Logistics, Corp." / "Harbo Logistics Corp" / "HarborLogistics"), names that add nothing to the
        brand ("Coho Inc") and names that do not carry it at all stay in the domain's main account: the domain
        decides unless the names clearly disagree.

        Only domains with more than one distinct normalized name are looked at, and only their distinct names.
        A name's distinguishing part is the name without words of form or reach (_GROUP_WORDS), spaces and the
        domain's label (or, when the label starts with the name's first word, as coho-group.com does with
        "Coho ...", without that word). Parts of at least NAME_SPLIT_MIN_DISTINCT characters that are alike
        (Jaro-Winkler ≥ NAME_SPLIT_SIMILARITY, or one contains the other) are linked, and the connected groups
        found (a recursive CTE, over at most NAME_SPLIT_MAX_NAMES parts per domain). The group whose records held
        the domain's id in the previous materialization keeps the key `d:<domain>`, and with it that id (an id never
        moves to another company); the first time, the group with the most records (then the most frequent part,
        then alphabetical order). Every other group is keyed `d:<domain>|<its most frequent part>`. Every choice
        is made on distinct values in a total order, so the keys do not depend on row order.
        """
        con = self.con
        # The previous materialization's links (when there is one): the group whose records had the domain's
        # id keeps it, so an id never moves to another company when that one comes to have more records.
        previous = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = '_acc_link'"
        ).fetchone()[0]
        domain_id = f"'{ID_PREFIX['account']}_' || substr(md5('d:' || k._cd), 1, 20)"
        held = f"count(*) FILTER (WHERE p.unified_id = {domain_id})" if previous else "0"
        join_previous = "LEFT JOIN _acc_link p USING (_connection_id, _source_id)" if previous else ""
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _acc_dn AS
            WITH names AS (
                SELECT k._cd, k._nname, count(*) AS n, {held} AS held FROM _acc_keys k {join_previous}
                WHERE k._cd IS NOT NULL AND k._nname IS NOT NULL GROUP BY ALL
            ), multi AS (
                SELECT names.*, {_brand_sql("_cd")} AS brand,
                       trim(regexp_replace(_nname, '{_GROUP_WORDS}', ' ', 'g')) AS plain
                FROM names WHERE _cd IN (SELECT _cd FROM names GROUP BY _cd HAVING count(*) > 1)
            ), parts AS (
                SELECT multi.*, replace(plain, ' ', '') AS squashed, split_part(plain, ' ', 1) AS first_word FROM multi
            )
            SELECT _cd, _nname, n, held,
                   CASE WHEN length(brand) >= 3 AND contains(squashed, brand) THEN replace(squashed, brand, '')
                        WHEN length(first_word) >= 3 AND starts_with(brand, first_word)
                        THEN substr(squashed, length(first_word) + 1)
                   END AS dn
            FROM parts""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _acc_dd AS
            WITH d AS (
                SELECT _cd, dn, sum(n) AS n, sum(held) AS held FROM _acc_dn
                WHERE length(dn) >= {NAME_SPLIT_MIN_DISTINCT} GROUP BY ALL
            ), r AS (
                SELECT d.*, row_number() OVER (PARTITION BY _cd ORDER BY n DESC, dn) AS rnk,
                       count(*) OVER (PARTITION BY _cd) AS k
                FROM d
            )
            SELECT * FROM r WHERE k > 1""")
        # Connected groups of alike parts: every part takes the smallest rank it can reach.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _acc_groups AS
            WITH RECURSIVE pairs AS (
                SELECT a._cd, a.rnk AS x, b.rnk AS y FROM _acc_dd a JOIN _acc_dd b ON a._cd = b._cd AND a.rnk < b.rnk
                WHERE a.k <= {NAME_SPLIT_MAX_NAMES}
                  AND (jaro_winkler_similarity(a.dn, b.dn) >= {NAME_SPLIT_SIMILARITY}
                       OR contains(a.dn, b.dn) OR contains(b.dn, a.dn)
                       OR {_abbreviates("a.dn", "b.dn")} OR {_abbreviates("b.dn", "a.dn")})
            ), edges AS (
                SELECT _cd, x, y FROM pairs UNION ALL SELECT _cd, y, x FROM pairs
            ), reach(_cd, rnk, lbl) AS (
                SELECT _cd, rnk, rnk FROM _acc_dd
                UNION
                SELECT e._cd, e.y, r.lbl FROM reach r JOIN edges e ON e._cd = r._cd AND e.x = r.rnk
            )
            SELECT _cd, rnk, min(lbl) AS lbl FROM reach GROUP BY ALL""")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _acc_split AS
            WITH g AS (
                SELECT c._cd, c.lbl, sum(d.n) AS n, sum(d.held) AS held
                FROM _acc_groups c JOIN _acc_dd d USING (_cd, rnk) GROUP BY ALL
            ), ranked AS (
                SELECT g.*, row_number() OVER (PARTITION BY _cd ORDER BY held DESC, n DESC, lbl) AS pos FROM g
            )
            SELECT dn._cd, dn._nname, 'd:' || dn._cd || '|' || rep.dn AS _key
            FROM _acc_dn dn
            JOIN _acc_dd d ON d._cd = dn._cd AND d.dn = dn.dn
            JOIN _acc_groups c ON c._cd = d._cd AND c.rnk = d.rnk
            JOIN ranked g ON g._cd = c._cd AND g.lbl = c.lbl AND g.pos > 1
            JOIN _acc_dd rep ON rep._cd = c._cd AND rep.rnk = c.lbl""")
        con.execute("""
            UPDATE _acc_keys SET _key = sp._key FROM _acc_split sp
            WHERE _acc_keys._cd = sp._cd AND _acc_keys._nname = sp._nname""")
        for table in ("_acc_dn", "_acc_dd", "_acc_groups", "_acc_split"):
            con.execute(f"DROP TABLE IF EXISTS {table}")

    # --- links ---------------------------------------------------------------------------

    def _link_sql(self, entity: str, available: dict[str, str]) -> tuple[str, str]:
        """(joins, expression) giving a source row's account_unified_id."""
        if not self.has_accounts:
            return "", "NULL::VARCHAR"
        joins, exprs = [], []
        id_cols = ["account_id"] if entity in ("contact", "opportunity") else ["sub_account_id", "billing_account_id"]
        for i, col in enumerate(c for c in id_cols if c in available):
            joins.append(
                f"LEFT JOIN _acc_link l{i} ON l{i}._connection_id = s._connection_id "
                f"AND l{i}._source_id = s.{store.quote(col)}"
            )
            joins.append(f"LEFT JOIN _acc_byid b{i} ON b{i}._source_id = s.{store.quote(col)}")
            exprs += [f"l{i}.unified_id", f"b{i}.unified_id"]
        if entity == "contact" and "email" in available:
            free = ", ".join(f"'{d}'" for d in FREE_MAIL)
            joins.append(
                "LEFT JOIN _acc_bydomain bd ON bd._domain = "
                f"CASE WHEN lower(split_part(s.email, '@', 2)) NOT IN ({free}) "
                "THEN lower(split_part(s.email, '@', 2)) END"
            )
            exprs.append("bd.unified_id")
        if not exprs:
            return "", "NULL::VARCHAR"
        return " ".join(joins), f"coalesce({', '.join(exprs)})"

    # --- builders ------------------------------------------------------------------------

    def _contact_key(self, available: dict[str, str]) -> str:
        if "email" not in available:
            return "NULL"
        return f"CASE WHEN regexp_matches(s.email, '{_EMAIL_RE}') THEN 'e:' || lower(trim(s.email)) END"

    def _merged(self, spec: ViewSpec, available: dict[str, str], *, key: str, key_join: str = "",
                key_is_id: bool = False, probability: str | None = None) -> None:
        """One row per `key`: its unified id the key's hash, or the key itself with `key_is_id`; with
        `probability` (SQL over the joined row), each source in `_sources_multi` carries the probability
        that joined it to the entity."""
        entity = spec.entity
        prefix = ID_PREFIX.get(entity, entity[:3])
        link_joins, link_expr = self._link_sql(entity, available) if spec.linked else ("", None)
        recency = _recency(available)
        row_key = "'r:' || s._connection_id || ':' || s._source_id"
        vsql = ValueSql.duckdb(self.con, entity, spec.values, available)
        # each source row's value columns, aggregated below as one struct per field (value, label,
        # status and key of the freshest record that has a value)
        value_cols = "".join(f", {expr} AS {store.quote('__' + name)}" for name, expr in vsql.columns().items())
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _rows AS
            SELECT s.*, coalesce({key}, {row_key}) AS _key, {recency} AS _rec, ck.kind AS _kind,
                   {probability or "NULL::DOUBLE"} AS _prob
                   {", " + link_expr + " AS _acc" if link_expr else ""}{value_cols}
            FROM {store.source_table(entity)} s {key_join}
            LEFT JOIN _conn_kinds ck ON ck.connection_id = s._connection_id
            {link_joins}
            {vsql.joins()}
            WHERE NOT s._deleted""")
        fields = []
        unpack = []
        for i, vf in enumerate(spec.values.values()):
            parts = {"v": vf.name, "s": vf.source_column, "t": vf.status_column, "k": vf.key_column}
            parts = {p: c for p, c in parts.items() if c}
            struct = ", ".join(f"'{p}': s.{store.quote('__' + c)}" for p, c in parts.items())
            fields.append(
                f"arg_max({{{struct}}}, s._rec) FILTER (WHERE s.{store.quote('__' + vf.status_column)} IS NOT NULL) "
                f"AS __agg{i}"
            )
            unpack += [f"__agg{i}.{p} AS {store.quote(c)}" for p, c in parts.items()]
        for name, kind in spec.fields.items():
            if name in spec.value_columns:
                continue
            col = _col(available, name, kind)
            fields.append(
                f"arg_max({col}, s._rec) FILTER (WHERE {col} IS NOT NULL) AS {store.quote(name)}"
                if name in available
                else f"{col} AS {store.quote(name)}"
            )
        acc = ["arg_max(s._acc, s._rec) FILTER (WHERE s._acc IS NOT NULL) AS account_unified_id"] if spec.linked else []
        order = "s._connection_id, s._source_id"
        self._drop(f"view_{store.ident(entity)}")
        aggs = ", ".join(f"__agg{i}" for i in range(len(spec.values)))
        self.con.execute(f"""
            CREATE TABLE view_{entity} AS
            SELECT * {f"EXCLUDE ({aggs}), " + ", ".join(unpack) if unpack else ""} FROM (
            SELECT {"min(s._key)" if key_is_id else f"'{prefix}_' || substr(md5(s._key), 1, 20)"} AS unified_id,
                   {", ".join(fields + acc)},
                   count(*)::INTEGER AS source_count,
                   arg_min(s._connection_id, ({order})) AS _src_connection_id,
                   arg_min(s._kind, ({order})) AS _src_kind,
                   arg_min(s._source_object, ({order})) AS _src_object,
                   arg_min(s._source_id, ({order})) AS _src_id,
                   CASE WHEN count(*) > 1 THEN to_json(list({{'connection_id': s._connection_id,
                        'connection_kind': s._kind, 'source_object': s._source_object, 'source_id': s._source_id
                        {", 'probability': round(s._prob, 4)" if probability else ""}}}
                        ORDER BY {order}))::VARCHAR END AS _sources_multi,
                   min(s._key) AS _key
            FROM _rows s GROUP BY s._key)""")
        if entity == "account":
            self.con.execute("CREATE OR REPLACE TABLE _acc_unified_keys AS SELECT _key, unified_id FROM view_account")
            self.con.execute("ALTER TABLE view_account DROP COLUMN _key")
        else:
            self.con.execute(f"ALTER TABLE view_{entity} DROP COLUMN _key")
        self.con.execute("DROP TABLE IF EXISTS _rows")

    def _per_record(self, spec: ViewSpec, available: dict[str, str], *, scope: str | None = None) -> tuple[str, str]:
        """One row per source record: a view (no copy), streamed straight to PostgreSQL.

        With canonical values, `view_<entity>` has the value columns (and `_vk_F`) for DuckDB's readers,
        while PostgreSQL gets `publish_relation(entity)`: the records' own values (`spec.stored_fields`),
        only the currency's value joined (the reporting columns convert from it); PostgreSQL's view
        computes the value columns when it is read (dcl/pgsync.py). With `scope`, the relations are
        `delta_relations(entity)` over the scope's records alone. Returns (view, publish relation)."""
        entity = spec.entity
        link_joins, link_expr = self._link_sql(entity, available) if spec.linked else ("", None)
        vsql = ValueSql.duckdb(self.con, entity, spec.values, available)
        values = vsql.columns()
        view, published_as = delta_relations(entity) if scope else (f"view_{store.ident(entity)}",
                                                                    publish_relation(entity))
        only = (f"SEMI JOIN {scope} d ON d._connection_id = s._connection_id AND d._source_id = s._source_id "
                if scope else "")
        rows = (f"FROM {store.source_table(entity)} s {only}"
                f"LEFT JOIN _conn_kinds ck ON ck.connection_id = s._connection_id {link_joins}")
        live = "NOT s._deleted"
        if self._resolved(entity) and cluster_rows_table(entity) in store.existing_tables(self.con):
            # one row per cluster: its survivor's, under the cluster's id, with every record's lineage
            rows += (f" LEFT JOIN {cluster_rows_table(entity)} er "
                     "ON er._connection_id = s._connection_id AND er._source_id = s._source_id")
            live += " AND coalesce(er.survivor, true)"
            unified_id = f"coalesce(er.unified_id, {per_record_id_sql(entity, 's')}) AS unified_id"
            count, multi = "coalesce(er.source_count, 1)", "er.sources_multi"
        else:
            unified_id = f"{per_record_id_sql(entity, 's')} AS unified_id"
            count, multi = "1", "NULL::VARCHAR"
        lineage = (f"{count} AS source_count, s._connection_id AS _src_connection_id, ck.kind AS _src_kind, "
                   f"s._source_object AS _src_object, s._source_id AS _src_id, {multi} AS _sources_multi")
        cols = [f"{values[n] if n in values else _col(available, n, k)} AS {store.quote(n)}"
                for n, k in spec.fields.items()]
        if spec.linked:
            cols.append(f"{link_expr} AS account_unified_id")
        # the keys of the values (DuckDB only: an approval updates the rows carrying a value)
        cols += [f"{values[vf.key_column]} AS {store.quote(vf.key_column)}" for vf in spec.values.values()]
        self._drop(view)
        self._drop(published_as)
        self.con.execute(f"""
            CREATE VIEW {view} AS
            SELECT {unified_id}, {", ".join(cols)}, {lineage}
            {rows} {vsql.joins()}
            WHERE {live}""")
        if not spec.read_time_values:
            return view, published_as
        own = {vf.name for vf in spec.values.values() if not vf.derived}
        published = [
            f"{f'CAST({_col(available, n, k)} AS VARCHAR)' if n in own else _col(available, n, k)} AS {store.quote(n)}"
            for n, k in spec.stored_fields.items()
        ]
        if spec.linked:
            published.append(f"{link_expr} AS account_unified_id")
        conversion = CONVERSIONS.get(entity)
        currency = conversion.currency if conversion is not None and conversion.currency in spec.values else None
        if currency is not None:
            published.append(f"{values[currency]} AS {_CURRENCY}")
        self.con.execute(f"""
            CREATE VIEW {published_as} AS
            SELECT {unified_id}, {", ".join(published)}, {lineage}
            {rows} {vsql.joins(only={currency} if currency else set())}
            WHERE {live}""")
        return view, published_as


_CURRENCY = "__canonical_currency"  # the publish relation's canonical currency, for its reporting columns


def resolved_table(entity: str) -> str:
    """Entity resolution's clusters of `entity` in the store (dcl/resolution/engine.py)."""
    return f"_er_{store.ident(entity)}"


def cluster_rows_table(entity: str) -> str:
    """A per-record entity's records that entity resolution put in a cluster (`Unifier.cluster_rows`)."""
    return f"_er_rows_{store.ident(entity)}"


def _row_id_sql(entity: str, alias: str = "s") -> str:
    """SQL: the unified id of a record alone, `alias` its source row (entity resolution gives a new
    cluster the same id from its oldest record)."""
    prefix = ID_PREFIX.get(entity, entity[:3])
    return f"'{prefix}_' || substr(md5('r:' || {alias}._connection_id || ':' || {alias}._source_id), 1, 20)"


def publish_relation(entity: str) -> str:
    """The DuckDB relation PostgreSQL's data table is copied from when PostgreSQL computes the view's
    values at read time (`ViewSpec.read_time_values`); otherwise that is `view_<entity>` itself."""
    return f"_pub_{store.ident(entity)}"


def per_record_id_sql(entity: str, alias: str) -> str:
    """SQL: the unified id of a per-record view's row, from its record's `_connection_id`, `_source_id`."""
    prefix = ID_PREFIX.get(entity, entity[:3])
    return f"'{prefix}_' || substr(md5({alias}._connection_id || ':' || {alias}._source_id), 1, 20)"


def delta_relations(entity: str) -> tuple[str, str]:
    """(view, publish relation) of a per-record entity's records changed since its last publication
    (`Unifier.build(entity, scope=...)`)."""
    return f"_dv_{store.ident(entity)}", f"_dpub_{store.ident(entity)}"
