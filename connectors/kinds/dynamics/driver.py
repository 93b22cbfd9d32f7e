"""Dynamics 365 / Dataverse Web API: OAuth client credentials (Microsoft Entra ID), metadata from
`EntityDefinitions(LogicalName='x')/Attributes`, records with `@odata.nextLink` paging, incremental
on `modifiedon`.

Cursor per entity: `{"modifiedon": "<ISO>", "id": "<last primary id>"}`, keyset paging on
(modifiedon, primary id). Lookup columns appear as `_<name>_value`, as the Web API returns them.
Option sets (choices, `statecode`, `statuscode`) appear as their labels ("Won", "Wholesale"), read from
the `OData.Community.Display.V1.FormattedValue` annotation the driver asks for: the environment's
own labels, as Dataverse shows and exports them, not option numbers that mean nothing elsewhere.

Wide entities: Dataverse refuses URLs over 32,768 characters, and its @odata.nextLink repeats the
whole query plus a paging cookie. So `$select` is split into chunks of at most SELECT_BUDGET encoded
characters: the first chunk (with the primary id and modifiedon) drives the keyset paging; each other
chunk is read for the page's ids with `$filter=Microsoft.Dynamics.CRM.In(PropertyName=..,
PropertyValues=[..])`, as many ids per request as fit in URL_BUDGET, and merged by primary id. A record
deleted between those requests is dropped from the page rather than emitted half-read; one changed in
between may carry newer values in later chunks, and its new modifiedon brings it back on the next sync.

Change tracking (deletes; docs/adr/0021-run-counts.md): a read without a cursor asks with `Prefer:
odata.track-changes` (only `$select`: a tracked query takes no $filter or $orderby) and follows
@odata.nextLink; its last page holds an `@odata.deltaLink`, which becomes the cursor
`{"delta": <link>}`. The next read GETs that link: records created or changed since, and each record
removed since as `{"@odata.context": "…$deletedEntity", "id": …, "reason": "deleted"}`, whose id goes
to `Page.removed`. Pages before the last keep the cursor the read began from (a read that stops
early reads the same delta again). A delta link the service no longer honours (410 Gone) starts
over from the first record. An entity whose environment does not track its changes (no
`Preference-Applied: odata.track-changes` in the answer) is read as before: keyset paging on
(modifiedon, primary id), cursor `{"modifiedon", "id"}`, and never reports deletes; so are
connections whose cursor is still of that form, until their next full sync.

Value metadata (`value_metadata`): the entity's option sets, one request per kind of option-set
attribute (`Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=
OptionSet`, likewise MultiSelectPicklist, State and Status): each option's integer `Value` with its
`Label.UserLocalizedLabel.Label` (the label the FormattedValue annotation gives records). A kind that
fails is logged and left out; the others still count.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from ...base import DEFAULT_PAGE_SIZE, CheckResult, Driver, Page, SourceObject
from ...errors import ConnectorError, ObjectNotFound
from ...http import HttpClient, TokenProvider
from ..saas import ValueMetadataCache, fields_with_samples
from ..saas import options as option_list

logger = logging.getLogger("connectors.metadata")

# Option sets (choices, state and status reasons) arrive as their labels (`FORMATTED` annotation).
OPTION_SETS = {"Picklist", "State", "Status", "MultiSelectPicklist"}
FORMATTED = "OData.Community.Display.V1.FormattedValue"
# The attribute metadata types that carry an OptionSet (casts on EntityDefinitions(...)/Attributes).
OPTION_SET_METADATA = (
    "PicklistAttributeMetadata",
    "MultiSelectPicklistAttributeMetadata",
    "StateAttributeMetadata",
    "StatusAttributeMetadata",
)
TYPES = {
    "Integer": "integer",
    "BigInt": "integer",
    "Money": "number",
    "Decimal": "number",
    "Double": "number",
    "Boolean": "boolean",
    "DateTime": "datetime",
}
LOOKUPS = {"Lookup", "Customer", "Owner"}
SKIPPED = {"Virtual", "EntityName", "ManagedProperty", "CalendarRules", "PartyList", "Image", "File"}
CURSOR_FIELD = "modifiedon"
TRACK_CHANGES = "odata.track-changes"
DELETED_ENTITY = "$deletedEntity"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})$")
URL_BUDGET = 16_000  # half of Dataverse's 32,768: nextLinks add the paging cookie to the query
SELECT_BUDGET = 6_000  # encoded characters of one $select chunk
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class DynamicsDriver(Driver):
    kind = "dynamics"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        cfg = self.config
        self.http = HttpClient(
            base_url=f"{cfg.instance_url}/api/data/{cfg.api_version}",
            headers={"OData-MaxVersion": "4.0", "OData-Version": "4.0"},
            sleep=self.options.get("sleep", time.sleep),
        )
        self.http.token_provider = TokenProvider(
            token_url=cfg.effective_token_url,
            client=self.http,
            form={
                "grant_type": "client_credentials",
                "client_id": cfg.client_id,
                "client_secret": self.secrets.client_secret,
                "scope": f"{cfg.instance_url}/.default",
            },
        )
        self._meta: dict[str, dict] = {}
        self._value_metadata = ValueMetadataCache(self.kind)

    def close(self) -> None:
        self.http.close()

    def check(self) -> CheckResult:
        who = self.http.get("WhoAmI")
        return CheckResult(
            True, f"connected to {self.config.instance_url} as application user {who.get('UserId', '?')}"
        )

    def metadata(self, entity: str) -> dict:
        """EntitySetName, PrimaryIdAttribute and the readable columns of one entity."""
        if entity not in self._meta:
            key = f"EntityDefinitions(LogicalName='{quote(entity)}')"
            definition = self.http.get(key, params={"$select": "LogicalName,EntitySetName,PrimaryIdAttribute"})
            attributes = self.http.get(
                f"{key}/Attributes", params={"$select": "LogicalName,AttributeType,AttributeOf,IsValidForRead"}
            )
            columns, labelled = [], set()
            for attr in attributes.get("value", []):
                kind = attr.get("AttributeType", "")
                if attr.get("AttributeOf") or kind in SKIPPED or attr.get("IsValidForRead") is False:
                    continue
                name = attr["LogicalName"]
                if kind in LOOKUPS:
                    columns.append((f"_{name}_value", "string", True))
                else:
                    columns.append((name, TYPES.get(kind, "string"), True))
                    if kind in OPTION_SETS:
                        labelled.add(name)
            self._meta[entity] = {
                "set": definition["EntitySetName"],
                "pk": definition["PrimaryIdAttribute"],
                "columns": columns,
                "labelled": frozenset(labelled),
            }
        return self._meta[entity]

    def value_metadata(self, object_name: str) -> dict[str, dict]:
        return self._value_metadata.get(object_name, self._fetch_value_metadata)

    def _fetch_value_metadata(self, entity: str) -> dict[str, dict]:
        attributes = f"EntityDefinitions(LogicalName='{quote(entity)}')/Attributes"
        out: dict[str, dict] = {}
        for cast in OPTION_SET_METADATA:
            try:
                body = self.http.get(
                    f"{attributes}/Microsoft.Dynamics.CRM.{cast}",
                    params={"$select": "LogicalName", "$expand": "OptionSet"},
                )
            except ConnectorError as exc:
                logger.warning("dynamics: %s of %r unavailable: %s", cast, entity, exc)
                continue
            for attr in body.get("value") or []:
                if not isinstance(attr, dict) or not attr.get("LogicalName"):
                    continue
                option_set = attr.get("OptionSet") if isinstance(attr.get("OptionSet"), dict) else {}
                choices = [o for o in option_set.get("Options") or [] if isinstance(o, dict)]
                out[attr["LogicalName"]] = option_list((o.get("Value"), _label(o.get("Label"))) for o in choices)
        return out

    @staticmethod
    def _record(item: dict[str, Any], labelled: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The record's values; an option set's is its label (what Dataverse shows and exports), when
        the annotation is there (an option without a label keeps its number, as text)."""
        record = {k: v for k, v in item.items() if not k.startswith("@") and "@" not in k}
        for name in labelled & record.keys():
            label = item.get(f"{name}@{FORMATTED}")
            record[name] = label if label is not None else (None if record[name] is None else str(record[name]))
        return record

    def _pages(
        self, url: str, params: dict | None, page_size: int, labelled: frozenset[str] = frozenset()
    ) -> Iterator[list[dict]]:
        prefer = f"odata.maxpagesize={max(1, min(5000, page_size))}"
        headers = {"Prefer": f'{prefer},odata.include-annotations="{FORMATTED}"' if labelled else prefer}
        body = self.http.get(url, params=params, headers=headers)
        while True:
            yield [self._record(item, labelled) for item in body.get("value", [])]
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return
            body = self.http.get(next_link, headers=headers)

    @staticmethod
    def _chunks(names: list[str], first: list[str]) -> list[list[str]]:
        """`names` split into $select lists of at most SELECT_BUDGET encoded characters; `first`
        (the keys paging needs) lead the first list."""
        chunks: list[list[str]] = [[n for n in first if n in names]]
        size = len(quote(",".join(chunks[0]), safe=""))
        for name in names:
            if name in first:
                continue
            cost = len(quote("," + name, safe=""))
            if chunks[-1] and size + cost > SELECT_BUDGET:
                chunks.append([])
                size = 0
            chunks[-1].append(name)
            size += cost
        order = {n: i for i, n in enumerate(names)}
        return [sorted(chunk, key=order.__getitem__) for chunk in chunks]

    def _rows(self, meta: dict, params: dict[str, str], page_size: int, first: list[str]) -> Iterator[list[dict]]:
        """Pages of complete records: the first $select chunk pages, the others are joined by id."""
        names = [c[0] for c in meta["columns"]]
        chunks = self._chunks(names, [meta["pk"], *first])
        first_select = {**params, "$select": ",".join(chunks[0])}
        for records in self._pages(meta["set"], first_select, page_size, meta["labelled"]):
            if len(chunks) > 1 and records:
                joined = self._join(meta, records, chunks[1:])
                records = [{n: r[n] for n in names if n in r} for r in joined]  # the usual column order
            yield records

    def _join(self, meta: dict, records: list[dict], chunks: list[list[str]]) -> list[dict]:
        pk, entity_set = meta["pk"], meta["set"]
        by_id = {str(r.get(pk)): r for r in records}
        complete = {i: 0 for i in by_id}
        for chunk in chunks:
            select = ",".join([pk, *chunk])
            for ids in self._id_batches(entity_set, select, pk, list(by_id)):
                values = ",".join("'" + i.replace("'", "''") + "'" for i in ids)
                params = {
                    "$select": select,
                    "$filter": f"Microsoft.Dynamics.CRM.In(PropertyName='{pk}',PropertyValues=[{values}])",
                }
                for rows in self._pages(entity_set, params, len(ids), meta["labelled"]):
                    for row in rows:
                        key = str(row.get(pk))
                        if key in by_id:
                            by_id[key].update(row)
                            complete[key] += 1
        return [r for r in records if complete[str(r.get(pk))] == len(chunks)]

    def _id_batches(self, entity_set: str, select: str, pk: str, ids: list[str]) -> Iterator[list[str]]:
        base = self.http.url_length(
            entity_set,
            {"$select": select, "$filter": f"Microsoft.Dynamics.CRM.In(PropertyName='{pk}',PropertyValues=[])"},
        )
        batch: list[str] = []
        size = base
        for value in ids:
            cost = len(quote("'" + value.replace("'", "''") + "',", safe=""))
            if batch and (size + cost > URL_BUDGET or len(batch) >= 5000):
                yield batch
                batch, size = [], base
            batch.append(value)
            size += cost
        if batch:
            yield batch

    def discover(self) -> list[SourceObject]:
        objects = []
        for entity in self.config.entities:
            meta = self.metadata(entity)
            sample = next(self._rows(meta, {"$top": "50"}, 50, []), [])
            names = {c[0] for c in meta["columns"]}
            objects.append(
                SourceObject(
                    name=entity,
                    fields=fields_with_samples(meta["columns"], sample, primary_key=meta["pk"]),
                    primary_key=meta["pk"],
                    cursor_field=CURSOR_FIELD if CURSOR_FIELD in names else None,
                )
            )
        return objects

    # --- change tracking ------------------------------------------------------------------------------

    def deletes_mode(self, object_name: str) -> str:
        return "change_tracking"

    def _delta_link(self, cursor: dict | None) -> str | None:
        """The cursor's delta link, when it is one of this instance's (a cursor is stored data)."""
        link = (cursor or {}).get("delta")
        base = f"{self.config.instance_url}/api/data/"
        return link if isinstance(link, str) and link.startswith(base) else None

    def _tracked_bodies(self, meta: dict, link: str | None, page_size: int) -> Iterator[dict]:
        """The answers of a tracked read: from `link` (a delta), or the first request of a new one.
        Yields nothing when the first request was not tracked (the service ignored the preference)."""
        prefer = f"odata.track-changes,odata.maxpagesize={max(1, min(5000, page_size))}"
        if meta["labelled"]:
            prefer += f',odata.include-annotations="{FORMATTED}"'
        headers = {"Prefer": prefer}
        if link is None:
            select = self._chunks([c[0] for c in meta["columns"]], [meta["pk"]])[0]
            response = self.http.send("GET", meta["set"], params={"$select": ",".join(select)}, headers=headers)
            body = self.http.response_json(response)
            if TRACK_CHANGES not in response.headers.get("Preference-Applied", ""):
                return
        else:
            body = self.http.get(link, headers=headers)
        while True:
            yield body
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return
            body = self.http.get(next_link, headers=headers)

    def _tracked(self, meta: dict, cursor: dict | None, page_size: int) -> Iterator[Page]:
        """Pages of a tracked read (see the module's docstring); nothing when the entity is not tracked."""
        link = self._delta_link(cursor)
        names = [c[0] for c in meta["columns"]]
        chunks = self._chunks(names, [meta["pk"]])
        for body in self._tracked_bodies(meta, link, page_size):
            items = body.get("value") or []
            removed = [str(i.get("id")) for i in items if _is_removed(i) and i.get("id")]
            records = [self._record(i, meta["labelled"]) for i in items if not _is_removed(i)]
            if len(chunks) > 1 and records:
                records = [{n: r[n] for n in names if n in r} for r in self._join(meta, records, chunks[1:])]
            delta = body.get("@odata.deltaLink")
            page_cursor = {"delta": delta} if delta and not body.get("@odata.nextLink") else (cursor if link else None)
            yield Page(records=records, cursor=page_cursor, from_start=link is None, removed=removed)

    def read(self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Page]:
        if object_name not in self.config.entities:
            raise ObjectNotFound(f"{object_name!r} is not one of this connection's entities")
        meta = self.metadata(object_name)
        if not cursor or self._delta_link(cursor) or "delta" in cursor:
            tracked = False
            try:
                for page in self._tracked(meta, cursor if self._delta_link(cursor) else None, page_size):
                    tracked = True
                    yield page
            except ConnectorError as exc:
                if tracked or exc.details.get("status") != 410 or not self._delta_link(cursor):
                    raise
                logger.info("dynamics: the delta link of %r expired; reading it from the start", object_name)
                yield from self._tracked(meta, None, page_size)
                return
            if tracked:
                return
            cursor = None  # not tracked: read by modifiedon from the start
        yield from self._keyset(meta, cursor, page_size)

    def _keyset(self, meta: dict, cursor: dict | None, page_size: int) -> Iterator[Page]:
        pk = meta["pk"]
        names = [c[0] for c in meta["columns"]]
        incremental = CURSOR_FIELD in names
        params: dict[str, str] = {}
        if incremental:
            params["$orderby"] = f"{CURSOR_FIELD} asc,{pk} asc"
            # Cursor values go into the $filter: only well-formed ones are used, else read everything.
            if cursor and _ISO.match(str(cursor.get(CURSOR_FIELD) or "")) and _GUID.match(str(cursor.get("id") or "")):
                since, last = cursor[CURSOR_FIELD], cursor["id"]
                params["$filter"] = f"{CURSOR_FIELD} gt {since} or ({CURSOR_FIELD} eq {since} and {pk} gt {last})"
        for records in self._rows(meta, params, page_size, [CURSOR_FIELD] if incremental else []):
            if incremental and records:
                page_cursor = {CURSOR_FIELD: records[-1][CURSOR_FIELD], "id": records[-1][pk]}
            else:
                page_cursor = cursor if incremental else None
            yield Page(records=records, cursor=page_cursor, from_start="$filter" not in params)


def _is_removed(item: dict[str, Any]) -> bool:
    """A removed entity in a delta: `@odata.context` ending in `$deletedEntity`, or `reason` deleted."""
    return str(item.get("@odata.context", "")).endswith(DELETED_ENTITY) or item.get("reason") == "deleted"


def _label(label: Any) -> str | None:
    """An option's label in the user's language (`UserLocalizedLabel`), else its first localized one."""
    if not isinstance(label, dict):
        return None
    user = label.get("UserLocalizedLabel")
    if isinstance(user, dict) and user.get("Label") is not None:
        return user["Label"]
    for localized in label.get("LocalizedLabels") or []:
        if isinstance(localized, dict) and localized.get("Label") is not None:
            return localized["Label"]
    return None
