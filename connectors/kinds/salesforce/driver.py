"""Salesforce: OAuth 2.0 token endpoint, `sobjects/<obj>/describe`, SOQL `query` with
`nextRecordsUrl` paging, incremental on SystemModstamp.

Cursor per object: `{"SystemModstamp": "<UTC, seconds>", "Id": "<last id>"}`; reads use keyset
paging on (SystemModstamp, Id), so a sync cut off mid-way resumes after the last stored page
without skipping records that share a timestamp.

Objects with hundreds of fields: a `GET query?q=SELECT <every field> ...` passes Salesforce's limit of
16,384 bytes for the URI plus headers (414 / 431). When the query URL would exceed URI_BUDGET, the first
request goes through the Composite API (`POST composite`, the query in a JSON subrequest), which is
Salesforce's documented way around it; the following pages come from `nextRecordsUrl`, which is short
whatever the query. A SOQL statement itself may hold 100,000 characters: Salesforce's own limits (at
most 800 custom fields of at most 60 characters with namespace) keep a full field list below half of
that, so a longer one is reported as an error rather than split.

Value metadata (`value_metadata`): the describe's `picklistValues` of every picklist field (value =
the API name records carry, label, inactive values too: old records still hold them), and for
`StageName` the org's `OpportunityStage` rows (IsClosed, IsWon, DefaultProbability as a fraction,
ForecastCategoryName), which say what each stage means; without access to them StageName keeps its
picklist options.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from ...base import DEFAULT_PAGE_SIZE, CheckResult, Driver, Page, SourceObject
from ...errors import ConnectorError, ObjectNotFound, PermanentError, TransientError
from ...flatten import flatten
from ...http import HttpClient, TokenProvider
from ..saas import ValueMetadataCache, fields_with_samples, fraction, options, stage

TYPES = {
    "int": "integer",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "time": "string",
}
COMPOUND = {"address", "location"}  # not selectable as one column in SOQL; their parts are fields too
CURSOR_FIELD = "SystemModstamp"
DELETED_FIELD = "IsDeleted"  # read through queryAll, a true value is a delete (docs/adr/0019-deletes.md)
logger = logging.getLogger("connectors.metadata")
SAMPLE_ROWS = 50
URI_BUDGET = 12_000  # of Salesforce's 16,384 bytes for URI + headers; the rest is for headers
SOQL_MAX = 100_000  # characters in one SOQL statement
PICKLISTS = {"picklist", "multipicklist"}
STAGE_FIELD = "StageName"  # Opportunity's (and OpportunityHistory's): its values are OpportunityStage rows
STAGE_SOQL = (
    "SELECT ApiName, MasterLabel, IsActive, IsClosed, IsWon, DefaultProbability, ForecastCategoryName "
    "FROM OpportunityStage ORDER BY SortOrder"
)


def soql_datetime(value: str) -> str:
    """A Salesforce API datetime (`2024-01-05T10:00:00.000+0000`) as a SOQL literal in UTC."""
    text = value.strip()
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SalesforceDriver(Driver):
    kind = "salesforce"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        cfg, sec = self.config, self.secrets
        self.http = HttpClient(base_url=cfg.instance_url or "", sleep=self.options.get("sleep", time.sleep))
        form = {"grant_type": cfg.auth_flow, "client_id": cfg.client_id, "client_secret": sec.client_secret}
        if cfg.auth_flow == "refresh_token":
            form["refresh_token"] = sec.refresh_token or ""
        elif cfg.auth_flow == "password":
            form.update(username=cfg.username or "", password=sec.password or "")
        self.http.token_provider = TokenProvider(
            token_url=f"{cfg.login_url}/services/oauth2/token", form=form, client=self.http, on_token=self._on_token
        )
        self._describes: dict[str, dict] = {}
        self._value_metadata = ValueMetadataCache(self.kind)
        self._stages: list[dict] | None = None

    def _on_token(self, body: dict[str, Any]) -> None:
        # The token response names the org's instance; it wins over a configured one (orgs move).
        if body.get("instance_url"):
            self.http.base_url = str(body["instance_url"]).rstrip("/")

    def close(self) -> None:
        self.http.close()

    def _api(self, path: str) -> str:
        if not self.http.base_url:
            self.http.token_provider.token()  # learn the instance URL
        return f"/services/data/{self.config.api_version}/{path}"

    def check(self) -> CheckResult:
        body = self.http.get(self._api("sobjects/"))
        names = {o.get("name") for o in body.get("sobjects", [])}
        missing = [o for o in self.config.objects if o not in names]
        if missing:
            return CheckResult(False, f"connected, but these objects are not available: {', '.join(missing)}")
        return CheckResult(
            True,
            f"connected to {self.http.base_url} (API {self.config.api_version}); "
            f"{len(self.config.objects)} object(s) readable",
        )

    def describe(self, object_name: str) -> dict:
        if object_name not in self._describes:
            self._describes[object_name] = self.http.get(self._api(f"sobjects/{quote(object_name)}/describe"))
        return self._describes[object_name]

    def value_metadata(self, object_name: str) -> dict[str, dict]:
        return self._value_metadata.get(object_name, self._fetch_value_metadata)

    def _fetch_value_metadata(self, object_name: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for f in self.describe(object_name).get("fields", []):
            if f.get("type") not in PICKLISTS or not isinstance(f.get("picklistValues"), list):
                continue
            values = [p for p in f["picklistValues"] if isinstance(p, dict)]
            # Active values first (the order Salesforce shows), then retired ones old records still carry.
            values.sort(key=lambda p: p.get("active") is False)
            out[f["name"]] = options((p.get("value"), p.get("label")) for p in values)
            if f["name"] == STAGE_FIELD:
                stages = self._opportunity_stages()
                if stages:
                    out[STAGE_FIELD] = {"stages": stages}
        return out

    def _opportunity_stages(self) -> list[dict]:
        """The org's OpportunityStage rows as `stages` entries ([] when the query is refused: a user
        without access to setup objects still gets StageName's picklist options)."""
        if self._stages is None:
            try:
                rows = [r for page in self._query(STAGE_SOQL, 200) for r in page]
            except ConnectorError as exc:
                logger.warning("salesforce: OpportunityStage unavailable, StageName keeps its picklist: %s", exc)
                rows = []
            stages = []
            for row in rows:
                entry = stage(
                    row.get("ApiName") or row.get("MasterLabel"),
                    row.get("MasterLabel"),
                    probability=fraction(row.get("DefaultProbability"), percent=True),
                    is_closed=row.get("IsClosed") if isinstance(row.get("IsClosed"), bool) else None,
                    is_won=row.get("IsWon") if isinstance(row.get("IsWon"), bool) else None,
                    forecast_category=row.get("ForecastCategoryName"),
                )
                if entry is not None:
                    stages.append((row.get("IsActive") is False, entry))
            self._stages = [entry for _, entry in sorted(stages, key=lambda pair: pair[0])]
        return self._stages

    def _columns(self, object_name: str) -> list[tuple[str, str, bool]]:
        return [
            (f["name"], TYPES.get(f.get("type", ""), "string"), bool(f.get("nillable", True)))
            for f in self.describe(object_name).get("fields", [])
            if f.get("type") not in COMPOUND
        ]

    def _first_page(self, soql: str, headers: dict[str, str], endpoint: str = "query") -> dict:
        if len(soql) > SOQL_MAX:
            raise ConnectorError(f"the SOQL query is {len(soql):,} characters; Salesforce accepts {SOQL_MAX:,}")
        path = self._api(endpoint)
        if self.http.url_length(path, {"q": soql}) <= URI_BUDGET:
            return self.http.get(path, params={"q": soql}, headers=headers)
        subrequest = {
            "method": "GET",
            "url": str(httpx.URL(path, params={"q": soql})),
            "referenceId": "query",
            "httpHeaders": headers,
        }
        body = self.http.post(self._api("composite"), json={"allOrNone": True, "compositeRequest": [subrequest]})
        try:
            answer = body["compositeResponse"][0]
            status = int(answer.get("httpStatusCode", 0))
        except (KeyError, IndexError, TypeError, ValueError):
            raise ConnectorError("the Composite API answered without a query result") from None
        result = answer.get("body")
        if 200 <= status < 300 and isinstance(result, dict):
            return result
        detail = result[0] if isinstance(result, list) and result and isinstance(result[0], dict) else {}
        message = f"the query answered {status}: {str(detail.get('message') or result)[:300]}"
        if status in (401, 403):
            raise PermanentError(message)
        if status == 404:
            raise ObjectNotFound(message)
        if status == 429 or status >= 500:
            raise TransientError(message)
        raise ConnectorError(message)

    def _query(self, soql: str, page_size: int, endpoint: str = "query") -> Iterator[list[dict[str, Any]]]:
        """Pages of the SOQL's records; `endpoint` "queryAll" also returns deleted (IsDeleted) ones."""
        batch = max(200, min(2000, page_size))  # Salesforce accepts batch sizes 200..2000
        headers = {"Sforce-Query-Options": f"batchSize={batch}"}
        body = self._first_page(soql, headers, endpoint)
        while True:
            records = [flatten({k: v for k, v in r.items() if k != "attributes"}) for r in body.get("records", [])]
            yield records
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                return
            body = self.http.get(next_url, headers=headers)

    def discover(self) -> list[SourceObject]:
        objects = []
        for name in self.config.objects:
            columns = self._columns(name)
            names = [c[0] for c in columns]
            order = f" ORDER BY {CURSOR_FIELD} DESC" if CURSOR_FIELD in names else ""
            sample_rows = next(
                self._query(f"SELECT {', '.join(names)} FROM {name}{order} LIMIT {SAMPLE_ROWS}", 200), []
            )
            objects.append(
                SourceObject(
                    name=name,
                    fields=fields_with_samples(columns, sample_rows, primary_key="Id" if "Id" in names else None),
                    primary_key="Id" if "Id" in names else None,
                    cursor_field=CURSOR_FIELD if CURSOR_FIELD in names else None,
                    deleted_field=DELETED_FIELD if self._reads_deletes(names) else None,
                )
            )
        return objects

    @staticmethod
    def _reads_deletes(names: list[str]) -> bool:
        return DELETED_FIELD in names and CURSOR_FIELD in names and "Id" in names

    def read(self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Page]:
        if object_name not in self.config.objects:
            raise ObjectNotFound(f"{object_name!r} is not one of this connection's objects")
        names = [c[0] for c in self._columns(object_name)]
        if not names:
            raise ConnectorError(f"{object_name} has no readable fields")
        incremental = CURSOR_FIELD in names and "Id" in names
        soql = f"SELECT {', '.join(names)} FROM {object_name}"
        if incremental:
            if cursor and cursor.get(CURSOR_FIELD):
                since = soql_datetime(cursor[CURSOR_FIELD])
                last_id = _soql_string(str(cursor.get("Id") or ""))
                soql += f" WHERE {CURSOR_FIELD} > {since} OR ({CURSOR_FIELD} = {since} AND Id > {last_id})"
            soql += f" ORDER BY {CURSOR_FIELD} ASC, Id ASC"
        # queryAll: records deleted since the cursor come back with IsDeleted = true (SystemModstamp
        # moves on delete), and become canonical deletes (docs/adr/0019-deletes.md)
        endpoint = "queryAll" if incremental and self._reads_deletes(names) else "query"
        for records in self._query(soql, page_size, endpoint):
            if incremental and records:
                last = records[-1]
                page_cursor = {CURSOR_FIELD: soql_datetime(last[CURSOR_FIELD]), "Id": last["Id"]}
            else:
                page_cursor = cursor if incremental else None
            yield Page(records=records, cursor=page_cursor, errors=[])
