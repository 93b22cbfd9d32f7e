"""What entity resolution compares: each source record's fields, cleaned, in `_er_feat_<entity>`.

One row per live source record of the entity (`uid` = `<connection id>:<source id>`), with the entity's
match fields normalised the same way whatever the source: lower case, accents and punctuation gone,
postcodes without spaces, phone numbers in E.164 (`phonenumbers`, cached per raw value in `_er_phone`),
company names without their legal form (`cleanco`, cached in `_er_company`); a contact's or deal's unified
account; a deal's amount and close date as numbers and dates, and its system (`_src`).

Guards against chaining (issue #19, item 6): a value that names nobody in particular never links two
records on its own, so it is not a feature at all:
- null-like values (`N/A`, `unknown`, `test`, `-` ...) in every field;
- role and placeholder e-mail addresses (`info@`, `sales@`, `noreply@`, `@example.com`);
- the tenant's own domains (`OWN_DOMAINS`: its members' e-mail domains), as e-mail or website: a sales rep's
  address pasted into customers' records, or the company's own site, names none of them;
- an identifier (e-mail, phone, website domain) shared by more than `OVER_COMMON` records: a switchboard
  number or a shared inbox is not a person.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from .. import store

NULL_LIKE = ("n/a", "na", "n a", "none", "null", "nil", "unknown", "test", "tbd", "tba", "not available",
             "not applicable", "no name", "noname", "x", "xx", "xxx", "-", "--", ".", "?", "0", "anonymous")
ROLE_MAILBOXES = ("info", "sales", "admin", "support", "contact", "hello", "office", "noreply", "no-reply",
                  "donotreply", "do-not-reply", "mail", "team", "billing", "accounts", "enquiries", "inquiries",
                  "test", "marketing", "webmaster", "postmaster", "help", "service")
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net", "test.com", "email.com", "domain.com",
                       "mailinator.com", "invalid")
# An identifier held by more records than this links none of them (a shared inbox, a switchboard).
OVER_COMMON = 25
# The tenant's own domains, filled by the engine for each run (`engine.resolve(own_domains=...)`).
OWN_DOMAINS = "_er_own_domains"


@dataclass(frozen=True)
class Field:
    """A feature column: its name and the SQL computing it from the source row `s` (None: absent)."""

    name: str
    source: tuple[str, ...]  # the source columns it reads (all must exist for the feature to exist)
    identifier: bool = False  # over-common values are dropped


def _text(expr: str) -> str:
    """Lower case, accents gone, anything but letters, digits and spaces a space, spaces collapsed;
    a null-like value NULL."""
    cleaned = (f"trim(regexp_replace(regexp_replace(lower(strip_accents(CAST({expr} AS VARCHAR))), "
               f"'[^a-z0-9 ]+', ' ', 'g'), '\\s+', ' ', 'g'))")
    null_like = ", ".join(f"'{v}'" for v in NULL_LIKE)
    return f"CASE WHEN {cleaned} IN ({null_like}, '') THEN NULL ELSE {cleaned} END"


def _name(expr: str) -> str:
    """A person's name part: letters only (O'Brien = obrien, Jean-Luc = jean luc)."""
    expr = f"regexp_replace(CAST({expr} AS VARCHAR), '[''’`]', '', 'g')"  # O'Brien: one word
    return (f"nullif(trim(regexp_replace(regexp_replace({_text(expr)}, '[^a-z ]+', '', 'g'), '\\s+', ' ', 'g')),"
            f" '')")


def _email(expr: str) -> str:
    roles = ", ".join(f"'{r}'" for r in ROLE_MAILBOXES)
    domains = ", ".join(f"'{d}'" for d in PLACEHOLDER_DOMAINS)
    e = f"lower(trim(CAST({expr} AS VARCHAR)))"
    return (f"CASE WHEN regexp_matches({e}, '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$') "
            f"AND split_part({e}, '@', 1) NOT IN ({roles}) AND split_part({e}, '@', 2) NOT IN ({domains}) "
            f"AND split_part({e}, '@', 2) NOT IN (SELECT domain FROM {OWN_DOMAINS}) THEN {e} END")


def _domain(expr: str) -> str:
    d = (f"nullif(regexp_replace(regexp_replace(regexp_replace(lower(trim(CAST({expr} AS VARCHAR))), "
         f"'^[a-z][a-z0-9+.-]*://', ''), '^www[0-9]*\\.', ''), '[/:?#].*$', ''), '')")
    domains = ", ".join(f"'{v}'" for v in PLACEHOLDER_DOMAINS)
    return (f"CASE WHEN contains({d}, '.') AND {d} NOT IN ({domains}) "
            f"AND {d} NOT IN (SELECT domain FROM {OWN_DOMAINS}) THEN {d} END")


def _postcode(expr: str) -> str:
    return f"nullif(regexp_replace({_text(expr)}, '[^a-z0-9]+', '', 'g'), '')"


@dataclass(frozen=True)
class EntityFeatures:
    entity: str
    # feature name → SQL over the source row `s` (the source columns it needs)
    columns: dict[str, tuple[str, tuple[str, ...]]]
    identifiers: tuple[str, ...]  # over-common values dropped
    phone: tuple[str, ...] = ()  # normalised to E.164 through `phonenumbers`
    company: tuple[str, ...] = ()  # legal form removed through `cleanco`


def _features(entity: str) -> EntityFeatures:
    if entity == "contact":
        return EntityFeatures(
            entity,
            {
                "first_name": (_name("s.first_name"), ("first_name",)),
                "last_name": (_name("s.last_name"), ("last_name",)),
                "email": (_email("s.email"), ("email",)),
                "street": (_text("s.street"), ("street",)),
                "city": (_text("s.city"), ("city",)),
                "postal_code": (_postcode("s.postal_code"), ("postal_code",)),
                "state": (_text("s.state"), ("state",)),
                "country": (_text("s.country"), ("country",)),
            },
            identifiers=("email", "phone"),
            phone=("phone", "mobile_phone"),
        )
    if entity == "account":
        return EntityFeatures(
            entity,
            {
                "domain": (_domain("s.website"), ("website",)),
                "street": (_text("s.street"), ("street",)),
                "city": (_text("s.city"), ("city",)),
                "postal_code": (_postcode("s.postal_code"), ("postal_code",)),
                "country": (_text("s.country"), ("country",)),
            },
            identifiers=("domain", "phone"),
            phone=("phone",),
            company=("name",),
        )
    if entity == "opportunity":
        return EntityFeatures(
            entity,
            {
                "name": (_text("s.name"), ("name",)),
                "amount": ("TRY_CAST(s.amount AS DOUBLE)", ("amount",)),
                "close_date": ("TRY_CAST(s.close_date AS DATE)", ("close_date",)),
            },
            identifiers=(),
        )
    raise ValueError(f"no entity resolution for {entity}")


def features_of(entity: str) -> EntityFeatures:
    return _features(entity)


def build(con: duckdb.DuckDBPyConnection, entity: str, *, only: str | None = None) -> list[str]:
    """(Re)write `_er_feat_<entity>`: every live record's features, or with `only` (a table of
    `_connection_id`, `_source_id`) replace just those records' rows (gone ones are removed).
    Returns the feature columns that exist for this tenant's sources."""
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {OWN_DOMAINS} (domain VARCHAR)")  # none named: none left out
    spec = _features(entity)
    source = store.source_table(entity)
    available = store.table_columns(con, source)
    cols: dict[str, str] = {}
    for name, (sql, needs) in spec.columns.items():
        if all(n in available for n in needs):
            cols[name] = sql
    tables = store.existing_tables(con)
    if entity in ("contact", "opportunity") and "account_id" in available and "_acc_link" in tables:
        # the unified account the record's own account id is linked to (accounts are resolved first); a
        # deal's account id of another system's, when that id names one account anywhere (`_acc_byid`)
        own = ("(SELECT l.unified_id FROM _acc_link l WHERE l._connection_id = s._connection_id "
               "AND l._source_id = CAST(s.account_id AS VARCHAR))")
        anywhere = "(SELECT b.unified_id FROM _acc_byid b WHERE b._source_id = CAST(s.account_id AS VARCHAR))"
        cols["account"] = (f"coalesce({own}, {anywhere})" if entity == "opportunity" and "_acc_byid" in tables
                           else own)
    if entity == "opportunity":
        # the system a deal is in: deals are matched across systems only (a system's own records are
        # distinct deals; docs/adr/0028-entity-resolution.md)
        cols["_src"] = "CAST(s._connection_id AS VARCHAR)"
    phones = [c for c in spec.phone if c in available]
    if phones:
        _phones_cache(con, source, phones, only=only)
        cols["phone"] = ("(SELECT p.e164 FROM _er_phone p WHERE p.raw = "
                         f"CAST(coalesce({', '.join('s.' + store.quote(c) for c in phones)}) AS VARCHAR))")
    companies = [c for c in spec.company if c in available]
    if companies:
        _company_cache(con, source, companies[0], only=only)
        raw = f"CAST(s.{store.quote(companies[0])} AS VARCHAR)"
        cols["name"] = f"(SELECT c.clean FROM _er_company c WHERE c.raw = {raw})"
    derived = {}  # computed from the features above (outer select)
    if entity == "contact" and "first_name" in cols and "last_name" in cols:
        derived["full_name"] = "nullif(concat_ws(' ', first_name, last_name), '')"
    # blocking keys, not compared: the first letters of a name survive most typos
    for name in ("first_name", "last_name", "name"):
        if name in cols:
            derived[f"_bk_{name}"] = f"nullif(substr(replace({name}, ' ', ''), 1, 3), '')"
    table = f"_er_feat_{store.ident(entity)}"
    inner = ", ".join(f"{sql} AS {store.quote(n)}" for n, sql in cols.items())
    outer = ", ".join(f"{sql} AS {store.quote(n)}" for n, sql in derived.items())
    cols.update(derived)
    scope = (f"SEMI JOIN {only} o ON o._connection_id = s._connection_id AND o._source_id = s._source_id"
             if only else "")
    select = f"""
        SELECT *{", " + outer if outer else ""} FROM (
            SELECT s._connection_id || ':' || s._source_id AS uid, s._connection_id, s._source_id,
                   s._txn{", " + inner if inner else ""}
            FROM {source} s {scope} WHERE NOT s._deleted)"""
    if only is None or table not in store.existing_tables(con) or store.table_columns(con, table).keys() != {
        "uid", "_connection_id", "_source_id", "_txn", *cols
    }:
        if only is not None:
            # the columns changed (a new source column): every record's features again
            return build(con, entity)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS {select}")
    else:
        con.execute(f"DELETE FROM {table} t USING {only} o WHERE t._connection_id = o._connection_id "
                    "AND t._source_id = o._source_id")
        con.execute(f"INSERT INTO {table} BY NAME {select}")
    return [c for c in cols]


def over_common(con: duckdb.DuckDBPyConnection, entity: str, columns: list[str]) -> dict[str, int]:
    """Drop identifiers held by more than OVER_COMMON records (in the whole feature table); the number
    of values dropped per column."""
    spec = _features(entity)
    table = f"_er_feat_{store.ident(entity)}"
    dropped = {}
    for col in spec.identifiers:
        if col not in columns:
            continue
        q = store.quote(col)
        n = con.execute(f"""UPDATE {table} SET {q} = NULL WHERE {q} IN (
                            SELECT {q} FROM {table} WHERE {q} IS NOT NULL GROUP BY 1 HAVING count(*) > {OVER_COMMON})
                            """).fetchone()[0]
        dropped[col] = int(n)
    return dropped


def _missing(con, source: str, cache: str, expr: str, only: str | None) -> list[str]:
    scope = (f"SEMI JOIN {only} o ON o._connection_id = s._connection_id AND o._source_id = s._source_id"
             if only else "")
    rows = con.execute(f"""SELECT DISTINCT raw FROM (SELECT CAST({expr} AS VARCHAR) AS raw FROM {source} s {scope}
                           WHERE NOT s._deleted) WHERE raw IS NOT NULL AND raw NOT IN (SELECT raw FROM {cache})
                           """).fetchall()
    return [r[0] for r in rows]


def _phones_cache(con, source: str, columns: list[str], *, only: str | None) -> None:
    """E.164 of every raw phone number not yet seen (`phonenumbers`; a number without a country code is
    read as it is written, digits only, when the library cannot place it)."""
    import phonenumbers

    con.execute("CREATE TABLE IF NOT EXISTS _er_phone (raw VARCHAR PRIMARY KEY, e164 VARCHAR)")
    expr = f"coalesce({', '.join('s.' + store.quote(c) for c in columns)})"
    raws = _missing(con, source, "_er_phone", expr, only)
    out = []
    for raw in raws:
        e164 = None
        try:
            parsed = phonenumbers.parse(raw, None if raw.strip().startswith("+") else "US")
            if phonenumbers.is_possible_number(parsed):
                e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            e164 = None
        if e164 is None:
            digits = "".join(ch for ch in raw if ch.isdigit())
            e164 = digits if len(digits) >= 7 and len(set(digits)) > 1 else None
        out.append(e164)
    _cache_insert(con, "_er_phone", "e164", raws, out)


def _company_cache(con, source: str, column: str, *, only: str | None) -> None:
    """A company's name without its legal form ("Acme Holdings, Inc." → "acme holdings") through `cleanco`,
    then cleaned like any text."""
    from cleanco import basename

    con.execute("CREATE TABLE IF NOT EXISTS _er_company (raw VARCHAR PRIMARY KEY, clean VARCHAR)")
    raws = _missing(con, source, "_er_company", f"s.{store.quote(column)}", only)
    out = []
    for raw in raws:
        try:
            out.append(basename(raw) or raw)
        except Exception:  # noqa: BLE001 - cleanco on odd unicode: the raw name is still a name
            out.append(raw)
    _cache_insert(con, "_er_company", "clean", raws, out, clean=_text("clean"))


def _cache_insert(con, table: str, column: str, raws: list[str], values: list, *, clean: str | None = None) -> None:
    """Add `raws` → `values` to a cache table; `clean`: SQL over `column` applied on the way in."""
    if not raws:
        return
    batch = pa.table({"raw": pa.array(raws, pa.string()), column: pa.array(values, pa.string())})
    con.register("_er_cache_in", batch)
    try:
        con.execute(f"INSERT OR IGNORE INTO {table} SELECT raw, {clean or column} FROM _er_cache_in")
    finally:
        con.unregister("_er_cache_in")
