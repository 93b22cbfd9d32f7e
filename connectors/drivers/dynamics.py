"""Dynamics 365 / Dataverse Web API: OAuth client credentials (Microsoft Entra ID), metadata from
`EntityDefinitions(LogicalName='x')/Attributes`, records with `@odata.nextLink` paging, incremental
on `modifiedon`.

Cursor per entity: `{"modifiedon": "<ISO>", "id": "<last primary id>"}`, keyset paging on
(modifiedon, primary id). Lookup columns appear as `_<name>_value`, as the Web API returns them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from ..base import DEFAULT_PAGE_SIZE, CheckResult, Driver, Page, SourceObject
from ..errors import ObjectNotFound
from ..http import HttpClient, TokenProvider
from .saas import fields_with_samples

TYPES = {
    "Integer": "integer",
    "BigInt": "integer",
    "Picklist": "integer",
    "State": "integer",
    "Status": "integer",
    "Money": "number",
    "Decimal": "number",
    "Double": "number",
    "Boolean": "boolean",
    "DateTime": "datetime",
}
LOOKUPS = {"Lookup", "Customer", "Owner"}
SKIPPED = {"Virtual", "EntityName", "ManagedProperty", "CalendarRules", "PartyList", "Image", "File"}
CURSOR_FIELD = "modifiedon"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})$")
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
            columns = []
            for attr in attributes.get("value", []):
                kind = attr.get("AttributeType", "")
                if attr.get("AttributeOf") or kind in SKIPPED or attr.get("IsValidForRead") is False:
                    continue
                name = attr["LogicalName"]
                if kind in LOOKUPS:
                    columns.append((f"_{name}_value", "string", True))
                else:
                    columns.append((name, TYPES.get(kind, "string"), True))
            self._meta[entity] = {
                "set": definition["EntitySetName"],
                "pk": definition["PrimaryIdAttribute"],
                "columns": columns,
            }
        return self._meta[entity]

    @staticmethod
    def _record(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if not k.startswith("@") and "@" not in k}

    def _pages(self, url: str, params: dict | None, page_size: int) -> Iterator[list[dict]]:
        headers = {"Prefer": f"odata.maxpagesize={max(1, min(5000, page_size))}"}
        body = self.http.get(url, params=params, headers=headers)
        while True:
            yield [self._record(item) for item in body.get("value", [])]
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return
            body = self.http.get(next_link, headers=headers)

    def discover(self) -> list[SourceObject]:
        objects = []
        for entity in self.config.entities:
            meta = self.metadata(entity)
            select = ",".join(c[0] for c in meta["columns"])
            sample = next(self._pages(meta["set"], {"$select": select, "$top": "50"}, 50), [])
            names = {c[0] for c in meta["columns"]}
            objects.append(
                SourceObject(
                    name=entity,
                    fields=fields_with_samples(meta["columns"], sample),
                    primary_key=meta["pk"],
                    cursor_field=CURSOR_FIELD if CURSOR_FIELD in names else None,
                )
            )
        return objects

    def read(self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Page]:
        if object_name not in self.config.entities:
            raise ObjectNotFound(f"{object_name!r} is not one of this connection's entities")
        meta = self.metadata(object_name)
        pk = meta["pk"]
        names = [c[0] for c in meta["columns"]]
        incremental = CURSOR_FIELD in names
        params = {"$select": ",".join(names)}
        if incremental:
            params["$orderby"] = f"{CURSOR_FIELD} asc,{pk} asc"
            # Cursor values go into the $filter: only well-formed ones are used, else read everything.
            if cursor and _ISO.match(str(cursor.get(CURSOR_FIELD) or "")) and _GUID.match(str(cursor.get("id") or "")):
                since, last = cursor[CURSOR_FIELD], cursor["id"]
                params["$filter"] = f"{CURSOR_FIELD} gt {since} or ({CURSOR_FIELD} eq {since} and {pk} gt {last})"
        for records in self._pages(meta["set"], params, page_size):
            if incremental and records:
                page_cursor = {CURSOR_FIELD: records[-1][CURSOR_FIELD], "id": records[-1][pk]}
            else:
                page_cursor = cursor if incremental else None
            yield Page(records=records, cursor=page_cursor)
