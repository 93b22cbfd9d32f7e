"""A fake Dataverse environment: Entra ID token endpoint, WhoAmI, EntityDefinitions metadata,
entity sets with $select/$filter/$orderby, `Prefer: odata.maxpagesize` and @odata.nextLink.

Like Dataverse, URLs over 32,768 characters are refused (414) and a nextLink repeats the request's
query options with a $skiptoken added, so a long $select makes long nextLinks too. $filter supports
the keyset filter and `Microsoft.Dynamics.CRM.In(PropertyName='<pk>',PropertyValues=[...])`.

Option sets: `EntityDefinitions(LogicalName='x')/Attributes/Microsoft.Dynamics.CRM.<Kind>AttributeMetadata`
with `$expand=OptionSet` answers the entity's Picklist / State / Status attributes with their options
(OPTION_SETS: the out-of-the-box values and labels of Microsoft's entity reference); records carry the
same labels in their FormattedValue annotations. `FakeDynamics(opportunities=make_opportunities(n))`
adds the opportunity entity (sales stage, state, status reason, forecast category).

Change tracking (Microsoft's "Use change tracking to synchronize data with external systems", Web
API): a request with `Prefer: odata.track-changes` (and no $filter, $orderby or $top) answers every
record, paged, with `Preference-Applied: odata.track-changes`, and its last page carries an
`@odata.deltaLink` (`…?$select=…&$deltatoken=<n>`). GETting that link answers what changed since:
records created or changed (compared with the records as they were when the link was issued, so a
test may edit `entities[...]["records"]` directly) and each removed one as
`{"@odata.context": "<url>/$metadata#<set>/$deletedEntity", "id": <id>, "reason": "deleted"}`, then a
new delta link. `expire_deltas()` forgets every issued link: using one then answers 410 Gone.
`FakeDynamics(track_changes=False)` is an environment whose entities are not tracked: the
preference is ignored, as OData allows."""

from __future__ import annotations

import copy
import datetime as dt
import re
import secrets
import uuid
from urllib.parse import urlencode

from ..testserver import FakeAPI, Request
from .optionsets import OPTION_SETS

API = "/api/data/v9.2"
TENANT = "contoso.onmicrosoft.com"
_FILTER = re.compile(
    r"^modifiedon gt (?P<a>\S+) or \(modifiedon eq (?P<b>\S+) and (?P<pk>\w+) gt (?P<id>[0-9a-f-]{36})\)$"
)
_IN = re.compile(r"^Microsoft\.Dynamics\.CRM\.In\(PropertyName='(?P<pk>\w+)',PropertyValues=\[(?P<values>[^\]]*)\]\)$")

ACCOUNT_ATTRIBUTES = [
    ("accountid", "Uniqueidentifier", None),
    ("name", "String", None),
    ("websiteurl", "String", None),
    ("revenue", "Money", None),
    ("numberofemployees", "Integer", None),
    ("industrycode", "Picklist", None),
    ("statecode", "State", None),
    ("parentaccountid", "Lookup", None),
    ("parentaccountidname", "String", "parentaccountid"),
    ("modifiedon", "DateTime", None),
    ("createdon", "DateTime", None),
]


OPPORTUNITY_ATTRIBUTES = [
    ("opportunityid", "Uniqueidentifier", None),
    ("name", "String", None),
    ("estimatedvalue", "Money", None),
    ("estimatedclosedate", "DateTime", None),
    ("closeprobability", "Integer", None),
    ("salesstage", "Picklist", None),
    ("salesstagecode", "Picklist", None),
    ("msdyn_forecastcategory", "Picklist", None),
    ("statecode", "State", None),
    ("statuscode", "Status", None),
    ("parentaccountid", "Lookup", None),
    ("transactioncurrencyid", "Lookup", None),
    ("modifiedon", "DateTime", None),
]

TRACK = "odata.track-changes"

# Option-set labels, returned as `<name>@OData.Community.Display.V1.FormattedValue` when asked for.
FORMATTED = "OData.Community.Display.V1.FormattedValue"


def option_labels(entity: str, option_sets: dict | None = None) -> dict[str, dict[int, str]]:
    return {
        name: {value: label for value, label, _ in options}
        for name, options in (option_sets or OPTION_SETS).get(entity, {}).items()
    }


def _localized(label: str) -> dict:
    text = {
        "Label": label,
        "LanguageCode": 1033,
        "IsManaged": True,
        "MetadataId": str(uuid.uuid5(uuid.NAMESPACE_OID, label)),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [text], "UserLocalizedLabel": text}


def dyn_datetime(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_accounts(n: int, start: dt.datetime | None = None) -> list[dict]:
    start = start or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return [
        {
            "accountid": str(uuid.UUID(int=i + 1)),
            "name": f"Account {i}",
            "websiteurl": f"https://a{i}.example",
            "revenue": 1000.5 * i,
            "numberofemployees": i,
            "industrycode": 33 if i % 2 == 0 else 9,
            "statecode": 0,
            "_parentaccountid_value": None,
            "modifiedon": dyn_datetime(start + dt.timedelta(minutes=10 * (i // 2))),
            "createdon": dyn_datetime(start),
        }
        for i in range(n)
    ]


def make_opportunities(n: int, start: dt.datetime | None = None) -> list[dict]:
    """Opportunities whose state, status reason, sales stage and forecast category agree: open ones in
    Qualify..Close, then won and lost ones (option-set integers, as the Web API stores them)."""
    start = start or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    records = []
    for i in range(n):
        step = i % 6  # 0..3 open in stage 0..3, 4 won, 5 lost
        state = 0 if step < 4 else 1 if step == 4 else 2
        records.append(
            {
                "opportunityid": str(uuid.UUID(int=0x1000 + i)),
                "name": f"Opportunity {i}",
                "estimatedvalue": 5000.0 * (i + 1),
                "estimatedclosedate": dyn_datetime(start + dt.timedelta(days=30 + i)),
                "closeprobability": (10, 30, 60, 80, 100, 0)[step],
                "salesstage": min(step, 3),
                "salesstagecode": 1,
                "msdyn_forecastcategory": (100000001, 100000001, 100000002, 100000003, 100000005, 100000006)[step],
                "statecode": state,
                "statuscode": (1, 2, 1, 1, 3, 5)[step],
                "_parentaccountid_value": str(uuid.UUID(int=(i % 5) + 1)),
                "_transactioncurrencyid_value": str(uuid.UUID(int=0x900)),
                "modifiedon": dyn_datetime(start + dt.timedelta(minutes=10 * i)),
            }
        )
    return records


class FakeDynamics(FakeAPI):
    max_url = 32_768

    def __init__(
        self,
        *,
        records: list[dict] | None = None,
        client_id: str = "dyn-client",
        client_secret: str = "dyn-secret",
        max_page: int | None = None,
        opportunities: list[dict] | None = None,
        option_sets: dict[str, dict[str, list[tuple[int, str, int | None]]]] | None = None,
        track_changes: bool = True,
    ):
        super().__init__()
        self.entities = {
            "account": {
                "set": "accounts",
                "pk": "accountid",
                "attributes": ACCOUNT_ATTRIBUTES,
                "records": records if records is not None else make_accounts(15),
            }
        }
        if opportunities is not None:
            self.entities["opportunity"] = {
                "set": "opportunities",
                "pk": "opportunityid",
                "attributes": OPPORTUNITY_ATTRIBUTES,
                "records": opportunities,
            }
        self.option_sets = option_sets if option_sets is not None else OPTION_SETS
        self.client_id, self.client_secret = client_id, client_secret
        self.max_page = max_page
        self._links: dict[str, tuple[list[dict], int, dict, str | None]] = {}
        self.track_changes = track_changes
        self._deltas: dict[str, dict[str, dict]] = {}  # delta token → {id: the record as it was}

    def expire_deltas(self) -> None:
        self._deltas.clear()

    def config(self, **extra) -> dict:
        return {
            "instance_url": self.url,
            "tenant_id": TENANT,
            "client_id": self.client_id,
            "token_url": f"{self.url}/{TENANT}/oauth2/v2.0/token",
            "entities": list(self.entities),
            **extra,
        }

    def secrets(self, **extra) -> dict:
        return {"client_secret": self.client_secret, **extra}

    def route(self, request: Request):
        if request.path == f"/{TENANT}/oauth2/v2.0/token" and request.method == "POST":
            form = request.form()
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return (
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret "
                        "provided. Ensure the secret being sent in the request is the client secret value.",
                    },
                    {},
                )
            if form.get("grant_type") != "client_credentials" or form.get("scope") != f"{self.url}/.default":
                return 400, {"error": "invalid_scope", "error_description": "AADSTS70011: invalid scope"}, {}
            return (
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": self.issue_token(),
                },
                {},
            )
        if not self.authorized(request):
            return (
                401,
                {"error": {"code": "0x80072182", "message": "Bearer token is expired or invalid"}},
                {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="The access token is expired"'},
            )
        if request.path == f"{API}/WhoAmI":
            return (
                200,
                {
                    "@odata.context": f"{self.url}{API}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                    "BusinessUnitId": str(uuid.UUID(int=7)),
                    "UserId": str(uuid.UUID(int=8)),
                    "OrganizationId": str(uuid.UUID(int=9)),
                },
                {},
            )
        m = re.fullmatch(
            rf"{API}/EntityDefinitions\(LogicalName='(\w+)'\)/Attributes/Microsoft\.Dynamics\.CRM\.(\w+)AttributeMetadata",
            request.path,
        )
        if m:
            return self._option_set_attributes(m.group(1), m.group(2), request)
        m = re.fullmatch(rf"{API}/EntityDefinitions\(LogicalName='(\w+)'\)(/Attributes)?", request.path)
        if m:
            entity = self.entities.get(m.group(1))
            if entity is None:
                return 404, {"error": {"code": "0x80060888", "message": "Could not find entity"}}, {}
            if m.group(2):
                return (
                    200,
                    {
                        "value": [
                            {
                                "LogicalName": n,
                                "AttributeType": t,
                                "AttributeOf": of,
                                "IsValidForRead": True,
                                "@odata.type": f"#Microsoft.Dynamics.CRM.{t}AttributeMetadata",
                            }
                            for n, t, of in entity["attributes"]
                        ]
                    },
                    {},
                )
            return (
                200,
                {
                    "LogicalName": m.group(1),
                    "EntitySetName": entity["set"],
                    "PrimaryIdAttribute": entity["pk"],
                    "MetadataId": str(uuid.UUID(int=3)),
                },
                {},
            )
        m = re.fullmatch(rf"{API}/(\w+)", request.path)
        entity = next((e for e in self.entities.values() if m and e["set"] == m.group(1)), None)
        if entity is not None:
            return self._entity_set(entity, request)
        return 404, {"error": {"code": "0x8006088a", "message": "Resource not found for the segment"}}, {}

    def _option_set_attributes(self, logical_name: str, kind: str, request: Request):
        """The entity's attributes of one metadata type, with their OptionSet when $expand asks for it."""
        entity = self.entities.get(logical_name)
        if entity is None:
            return 404, {"error": {"code": "0x80060888", "message": "Could not find entity"}}, {}
        if kind not in ("Picklist", "MultiSelectPicklist", "State", "Status", "Boolean"):
            return 400, {"error": {"code": "0x0", "message": f"Type 'Microsoft.Dynamics.CRM.{kind}' not found"}}, {}
        expand = "OptionSet" in request.query.get("$expand", "")
        options_of = self.option_sets.get(logical_name, {})
        value = []
        for name, attr_type, _ in entity["attributes"]:
            if attr_type != kind:
                continue
            attr = {
                "@odata.type": f"#Microsoft.Dynamics.CRM.{kind}AttributeMetadata",
                "LogicalName": name,
                "MetadataId": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{logical_name}.{name}")),
            }
            if expand:
                options = []
                for option_value, label, state in options_of.get(name, []):
                    option = {
                        "Value": option_value,
                        "Color": None,
                        "IsManaged": True,
                        "ExternalValue": "",
                        "ParentValues": [],
                        "MetadataId": None,
                        "HasChanged": None,
                        "Label": _localized(label),
                        "Description": {"LocalizedLabels": [], "UserLocalizedLabel": None},
                    }
                    if kind == "Status":
                        option |= {
                            "@odata.type": "#Microsoft.Dynamics.CRM.StatusOptionMetadata",
                            "State": state,
                            "TransitionData": None,
                        }
                    elif kind == "State":
                        option |= {
                            "@odata.type": "#Microsoft.Dynamics.CRM.StateOptionMetadata",
                            "InvariantName": label,
                            "DefaultStatus": option_value + 1,
                        }
                    options.append(option)
                attr["OptionSet"] = {
                    "MetadataId": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{logical_name}_{name}")),
                    "Name": f"{logical_name}_{name}",
                    "IsGlobal": False,
                    "OptionSetType": kind,
                    "Options": options,
                }
            value.append(attr)
        context = (
            f"{self.url}{API}/$metadata#EntityDefinitions('{logical_name}')/Attributes"
            f"/Microsoft.Dynamics.CRM.{kind}AttributeMetadata(LogicalName,OptionSet())"
        )
        return 200, {"@odata.context": context, "value": value}, {}

    def _page_size(self, request: Request) -> int:
        m = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", ""))
        size = int(m.group(1)) if m else 5000
        return min(size, self.max_page) if self.max_page else size

    def _entity_set(self, entity: dict, request: Request):
        size = self._page_size(request)
        token = request.query.get("$skiptoken")
        tracked = TRACK in request.headers.get("prefer", "") and self.track_changes
        applied = {"Preference-Applied": TRACK} if tracked else {}
        if token:
            rows, offset, query, delta = self._links.pop(token)
            return 200, self._page(entity, rows, offset, size, query, delta), applied
        select = [s for s in request.query.get("$select", "").split(",") if s]
        names = {f"_{n}_value" if t in ("Lookup", "Customer", "Owner") else n for n, t, _ in entity["attributes"]}
        unknown = [s for s in select if s not in names]
        if unknown:
            message = f"Could not find a property named '{unknown[0]}' on type 'Microsoft.Dynamics.CRM.account'."
            return 400, {"error": {"code": "0x80060888", "message": message}}, {}
        if request.query.get("$deltatoken") is not None:
            return self._delta(entity, request, select, size)
        if tracked and any(request.query.get(k) for k in ("$filter", "$orderby", "$top")):
            return 400, {"error": {"code": "0x80060888",
                                   "message": "change tracking takes no $filter, $orderby or $top"}}, {}
        rows = list(entity["records"])
        if request.query.get("$filter"):
            f = _FILTER.match(request.query["$filter"])
            m = _IN.match(request.query["$filter"])
            if m and m.group("pk") == entity["pk"]:
                wanted = set(re.findall(r"'([^']*)'", m.group("values")))
                rows = [r for r in rows if r[entity["pk"]] in wanted]
            elif not f or f.group("a") != f.group("b") or f.group("pk") != entity["pk"]:
                return 400, {"error": {"code": "0x80060888", "message": "unsupported $filter in fake"}}, {}
            else:
                rows = [
                    r
                    for r in rows
                    if r["modifiedon"] > f.group("a")
                    or (r["modifiedon"] == f.group("a") and r[entity["pk"]] > f.group("id"))
                ]
        if request.query.get("$orderby"):
            rows.sort(key=lambda r: (r["modifiedon"], r[entity["pk"]]))
        if request.query.get("$top"):
            rows = rows[: int(request.query["$top"])]
        delta = self._delta_link(entity, select) if tracked else None
        return 200, self._page(entity, self._shaped(entity, rows, select, request), 0, size, request.query, delta), \
            applied

    def _shaped(self, entity: dict, rows: list[dict], select: list[str], request: Request) -> list[dict]:
        """Records as the Web API answers them: an etag, the $select'ed columns, option-set labels."""
        rows = [
            {"@odata.etag": f'W/"{1000 + i}"', **({k: r.get(k) for k in select} if select else r)}
            for i, r in enumerate(rows)
        ]
        if FORMATTED in request.headers.get("prefer", ""):
            logical_name = next(k for k, v in self.entities.items() if v is entity)
            for row in rows:
                for name, labels in option_labels(logical_name, self.option_sets).items():
                    if row.get(name) in labels:
                        row[f"{name}@{FORMATTED}"] = labels[row[name]]
        return rows

    def _delta_link(self, entity: dict, select: list[str]) -> str:
        """A new delta token: the entity's records as they are now, to compare the next delta with."""
        token = secrets.token_hex(6)
        self._deltas[token] = {r[entity["pk"]]: copy.deepcopy(r) for r in entity["records"]}
        options = urlencode({"$select": ",".join(select)}) if select else ""
        return f"{self.url}{API}/{entity['set']}?{options}&$deltatoken={token}"

    def _delta(self, entity: dict, request: Request, select: list[str], size: int):
        then = self._deltas.get(request.query["$deltatoken"])
        if then is None:
            return 410, {"error": {"code": "0x0", "message": "The delta token is no longer valid."}}, {}
        pk = entity["pk"]
        now = {r[pk]: r for r in entity["records"]}
        changed = [r for key, r in now.items() if then.get(key) != r]
        removed = [
            {"@odata.context": f"{self.url}{API}/$metadata#{entity['set']}/$deletedEntity", "id": key,
             "reason": "deleted"}
            for key in then if key not in now
        ]
        rows = self._shaped(entity, changed, select, request) + removed
        body = self._page(entity, rows, 0, size, request.query, self._delta_link(entity, select))
        body["@odata.context"] = f"{self.url}{API}/$metadata#{entity['set']}/$delta"
        return 200, body, {"Preference-Applied": TRACK}

    def _page(self, entity: dict, rows: list[dict], offset: int, size: int, query: dict,
              delta: str | None = None) -> dict:
        body = {"@odata.context": f"{self.url}{API}/$metadata#{entity['set']}", "value": rows[offset : offset + size]}
        if offset + size < len(rows):
            token = secrets.token_hex(8)
            self._links[token] = (rows, offset + size, query, delta)
            # Dataverse's nextLink repeats the query options and adds a (long, encoded) paging cookie.
            cookie = "%3Ccookie%20pagenumber%3D%22" + str(offset // size + 2) + "%22%20" + "x" * 300 + "%3E"
            options = urlencode({k: v for k, v in query.items() if k not in ("$skiptoken", "$deltatoken")})
            body["@odata.nextLink"] = f"{self.url}{API}/{entity['set']}?{options}&$skiptoken={token}&cookie={cookie}"
        elif delta is not None:
            body["@odata.deltaLink"] = delta
        return body
