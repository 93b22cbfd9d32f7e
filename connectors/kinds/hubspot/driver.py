"""HubSpot CRM v3: private-app token, `/crm/v3/properties/<obj>`, `/crm/v3/objects/<obj>` with
`paging.next.after`, incremental on `hs_lastmodifieddate` through the search API.

Cursor per object:
- `{"after": "<token>", "max_modified": "..."}` while a first full listing is under way;
- `{"since": "<ISO timestamp>"}` once it is done: later reads search for records modified at or
  after it, oldest first. Records that share the boundary timestamp are read again (downstream
  upserts by id make that harmless), which is safer than skipping one.
HubSpot's search returns at most 10,000 results per query, so a long incremental read restarts the
search from the last timestamp it saw before reaching that limit.

Portals with hundreds of properties: the list endpoint takes them in the URL (`properties=a,b,...`),
which servers refuse past a few kilobytes. When the list URL would exceed MAX_URL, the listing asks
only for ids and hs_lastmodifieddate and the page's records are fetched with
`POST /crm/v3/objects/<obj>/batch/read` (properties in the JSON body, up to 100 ids, one call per
page). The search API already carries properties in its body.

Enumeration values arrive as HubSpot's internal values (`closedwon`, `HOSPITAL_HEALTH_CARE`); records
carry their labels instead, from the options the properties API already returned ("Closed Won", as
in HubSpot's own exports), so a unified view shows one vocabulary per source that people recognise.

Value metadata (`value_metadata`): every enumeration's options (internal value, label) from the
properties API, and for deals `dealstage` from the pipelines API (`GET /crm/v3/pipelines/deals`):
every pipeline's stages with `metadata.probability` and `metadata.isClosed` (strings in HubSpot's
answer). HubSpot has no "won" flag: a closed stage at probability 1 is won, at 0 lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from typing import Any

from ...base import DEFAULT_PAGE_SIZE, CheckResult, Driver, Page, SourceObject
from ...errors import ConnectorError, ObjectNotFound
from ...http import HttpClient
from ..saas import ValueMetadataCache, fields_with_samples, flag, fraction, stage
from ..saas import options as option_list

logger = logging.getLogger("connectors.metadata")

TYPES = {"number": "number", "bool": "boolean", "date": "date", "datetime": "datetime"}
CURSOR_FIELD = "hs_lastmodifieddate"
MAX_LIMIT = 100  # HubSpot's page size limit for list and search (and batch read's input limit)
SEARCH_WINDOW = 10_000  # results one search query can page through
# HubSpot documents no URL limit; 8 KB is where common proxies refuse a request line. Stay well below.
MAX_URL = 4_000
# Objects with pipelines: object → the property that holds the stage id.
PIPELINE_STAGES = {"deals": "dealstage"}


def _ms(value: str) -> str:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return str(int(parsed.timestamp() * 1000))


class HubSpotDriver(Driver):
    kind = "hubspot"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.http = HttpClient(
            base_url=self.config.base_url, bearer=self.secrets.access_token, sleep=self.options.get("sleep", time.sleep)
        )
        self._properties: dict[str, list[dict]] = {}
        self._labels: dict[str, dict[str, dict[str, str]]] = {}
        self._value_metadata = ValueMetadataCache(self.kind)

    def close(self) -> None:
        self.http.close()

    def check(self) -> CheckResult:
        first = self.config.objects[0]
        self.http.get(f"/crm/v3/objects/{first}", params={"limit": 1})
        return CheckResult(True, f"connected to HubSpot; {len(self.config.objects)} object type(s) configured")

    def properties(self, object_name: str) -> list[dict]:
        if object_name not in self._properties:
            body = self.http.get(f"/crm/v3/properties/{object_name}")
            self._properties[object_name] = [p for p in body.get("results", []) if not p.get("hidden")]
        return self._properties[object_name]

    def labels(self, object_name: str) -> dict[str, dict[str, str]]:
        """Property → {internal value → label} for the object's enumerations (deal stages, pipelines,
        industries, lead statuses): records carry the labels people see in HubSpot and in its exports
        ("Closed Won", not `closedwon`; "Hospital & Health Care", not `HOSPITAL_HEALTH_CARE`). Properties
        that reference other objects (owners, teams) keep their ids. Built once per object."""
        if object_name in self._labels:
            return self._labels[object_name]
        labels: dict[str, dict[str, str]] = {}
        for prop in self.properties(object_name):
            if prop.get("type") != "enumeration" or prop.get("referencedObjectType"):
                continue
            options = {
                str(o["value"]): str(o["label"])
                for o in prop.get("options") or []
                if o.get("value") not in (None, "") and o.get("label")
            }
            if options:
                labels[prop["name"]] = options
        self._labels[object_name] = labels
        return labels

    def value_metadata(self, object_name: str) -> dict[str, dict]:
        return self._value_metadata.get(object_name, self._fetch_value_metadata)

    def _fetch_value_metadata(self, object_name: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for prop in self.properties(object_name):
            if prop.get("type") != "enumeration" or prop.get("referencedObjectType"):
                continue
            choices = [o for o in prop.get("options") or [] if isinstance(o, dict)]
            out[prop["name"]] = option_list((o.get("value"), o.get("label")) for o in choices)
        stage_property = PIPELINE_STAGES.get(object_name)
        if stage_property and any(p.get("name") == stage_property for p in self.properties(object_name)):
            try:
                stages = self._pipeline_stages(object_name)
            except ConnectorError as exc:
                logger.warning(
                    "hubspot: the %s pipelines are unavailable, %s keeps its options: %s",
                    object_name,
                    stage_property,
                    exc,
                )
            else:
                if stages:
                    out[stage_property] = {"stages": stages}
        return out

    def _pipeline_stages(self, object_name: str) -> list[dict]:
        """The stages of every pipeline of the object, each stage id once; archived ones too (records
        may still carry them, and what they meant has not changed)."""
        body = self.http.get(f"/crm/v3/pipelines/{object_name}")
        stages, seen = [], set()
        for pipeline in body.get("results") or []:
            if not isinstance(pipeline, dict):
                continue
            for item in pipeline.get("stages") or []:
                if not isinstance(item, dict) or str(item.get("id")) in seen:
                    continue
                meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
                probability = fraction(meta.get("probability"))
                closed = flag(meta.get("isClosed"))
                won = None  # HubSpot says closed, not won: a closed stage at 1 is won, at 0 lost
                if closed is False:
                    won = False
                elif closed and probability in (0.0, 1.0):
                    won = probability == 1.0
                entry = stage(item.get("id"), item.get("label"), probability=probability, is_closed=closed, is_won=won)
                if entry is not None:
                    entry["value"] = str(entry["value"])
                    seen.add(entry["value"])
                    stages.append(entry)
        return stages

    def _records(self, object_name: str, body: dict) -> list[dict[str, Any]]:
        """A response's records, enumeration values as their labels: a multi-select (`a;b`) label by
        label; a value with no option (deleted since) stays as it is."""
        records = [self._record(item) for item in body.get("results", [])]
        labels = self.labels(object_name)
        if not labels:
            return records
        for record in records:
            for name, options in labels.items():
                value = record.get(name)
                if not isinstance(value, str) or not value:
                    continue
                if value in options:
                    record[name] = options[value]
                elif ";" in value:
                    record[name] = ";".join(options.get(part, part) for part in value.split(";"))
        return records

    def _columns(self, object_name: str) -> list[tuple[str, str, bool]]:
        return [(p["name"], TYPES.get(p.get("type", ""), "string"), True) for p in self.properties(object_name)]

    @staticmethod
    def _record(item: dict[str, Any]) -> dict[str, Any]:
        record = {"id": str(item.get("id", ""))}
        record.update(item.get("properties") or {})
        record["archived"] = bool(item.get("archived", False))
        return record

    def _list_page(self, object_name: str, properties: list[str], limit: int, after: str | None = None) -> dict:
        """One page of the list endpoint with every property: in the URL when it fits, else listed
        by id and read back with batch/read (properties in the body)."""
        path = f"/crm/v3/objects/{object_name}"
        params: dict[str, Any] = {"limit": limit, "properties": ",".join(properties), "archived": "false"}
        if after:
            params["after"] = after
        if self.http.url_length(path, params) <= MAX_URL:
            return self.http.get(path, params=params)
        params["properties"] = CURSOR_FIELD
        body = self.http.get(path, params=params)
        ids = [str(item.get("id")) for item in body.get("results", [])]
        if ids:
            full = self.http.post(
                f"{path}/batch/read",
                params={"archived": "false"},
                json={"properties": properties, "propertiesWithHistory": [], "inputs": [{"id": i} for i in ids]},
            )
            by_id = {str(item.get("id")): item for item in full.get("results", [])}
            # A record deleted between the two calls is not in the batch answer: it is gone, not half-read.
            body["results"] = [by_id[i] for i in ids if i in by_id]
        return body

    def discover(self) -> list[SourceObject]:
        objects = []
        for name in self.config.objects:
            columns = self._columns(name)
            body = self._list_page(name, [c[0] for c in columns], 50)
            records = self._records(name, body)
            names = {c[0] for c in columns}
            objects.append(
                SourceObject(
                    name=name,
                    fields=fields_with_samples(columns, records, primary_key="id"),  # the record id, always sent
                    primary_key="hs_object_id" if "hs_object_id" in names else "id",
                    cursor_field=CURSOR_FIELD if CURSOR_FIELD in names else None,
                    deleted_field="archived",  # archived records, read after each incremental search
                )
            )
        return objects

    def read(self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Page]:
        if object_name not in self.config.objects:
            raise ObjectNotFound(f"{object_name!r} is not one of this connection's objects")
        properties = [c[0] for c in self._columns(object_name)]
        limit = max(1, min(MAX_LIMIT, page_size))
        if cursor and cursor.get("since"):
            last = {"since": cursor["since"]}
            for page in self._search(object_name, properties, cursor["since"], limit):
                last = page.cursor or last
                yield page
            yield from self._archived(object_name, cursor["since"], limit, last)
        else:
            yield from self._list(
                object_name, properties, (cursor or {}).get("after"), (cursor or {}).get("max_modified"), limit
            )

    def _list(self, object_name, properties, after, max_modified, limit) -> Iterator[Page]:
        while True:
            body = self._list_page(object_name, properties, limit, after)
            records = self._records(object_name, body)
            for record in records:
                modified = record.get(CURSOR_FIELD)
                if modified and (max_modified is None or _ms(modified) > _ms(max_modified)):
                    max_modified = modified
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if after:
                yield Page(records=records, cursor={"after": after, "max_modified": max_modified})
                continue
            yield Page(records=records, cursor={"since": max_modified} if max_modified else None)
            return

    def _archived(self, object_name: str, since: str, limit: int, cursor: dict) -> Iterator[Page]:
        """Records archived (deleted) at or after `since`: `archived` true, so each becomes a
        canonical delete (docs/adr/0019-deletes.md). HubSpot's archived listing has no time filter;
        it holds what was archived in the last 90 days, paged here with ids only."""
        after, bound = None, int(_ms(since))
        while True:
            params: dict[str, Any] = {"limit": limit, "archived": "true", "properties": f"hs_object_id,{CURSOR_FIELD}"}
            if after:
                params["after"] = after
            body = self.http.get(f"/crm/v3/objects/{object_name}", params=params)
            records = []
            for item in body.get("results", []):
                when = item.get("archivedAt") or item.get("updatedAt")
                if item.get("archived") and (not when or int(_ms(when)) >= bound):
                    record = self._record(item)
                    record.setdefault("hs_object_id", record["id"])
                    records.append(record)
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if records:
                yield Page(records=records, cursor=dict(cursor))
            if not after:
                return

    def _search(self, object_name, properties, since, limit) -> Iterator[Page]:
        after = 0
        while True:
            body = self.http.post(
                f"/crm/v3/objects/{object_name}/search",
                json={
                    "filterGroups": [
                        {"filters": [{"propertyName": CURSOR_FIELD, "operator": "GTE", "value": _ms(since)}]}
                    ],
                    "sorts": [{"propertyName": CURSOR_FIELD, "direction": "ASCENDING"}],
                    "properties": properties,
                    "limit": limit,
                    "after": after,
                },
            )
            records = self._records(object_name, body)
            last = next((r[CURSOR_FIELD] for r in reversed(records) if r.get(CURSOR_FIELD)), None)
            page_since = last or since
            next_after = ((body.get("paging") or {}).get("next") or {}).get("after")
            yield Page(records=records, cursor={"since": page_since})
            if not next_after:
                return
            after = int(next_after)
            if after + limit > SEARCH_WINDOW:
                if page_since == since:  # 10,000 records share one timestamp: nothing more we can do
                    return
                since, after = page_since, 0
