"""A fake Dataverse environment: Entra ID token endpoint, WhoAmI, EntityDefinitions metadata,
entity sets with $select/$filter/$orderby, `Prefer: odata.maxpagesize` and @odata.nextLink.

Like Dataverse, URLs over 32,768 characters are refused (414) and a nextLink repeats the request's
query options with a $skiptoken added, so a long $select makes long nextLinks too. $filter supports
the keyset filter and `Microsoft.Dynamics.CRM.In(PropertyName='<pk>',PropertyValues=[...])`.

Option sets: `EntityDefinitions(LogicalName='x')/Attributes/Microsoft.Dynamics.CRM.<Kind>AttributeMetadata`
with `$expand=OptionSet` answers the entity's Picklist / State / Status attributes with their options
(OPTION_SETS: the out-of-the-box values and labels of Microsoft's entity reference); records carry the
same labels in their FormattedValue annotations. `FakeDynamics(opportunities=make_opportunities(n))`
adds the opportunity entity (sales stage, state, status reason, forecast category)."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from urllib.parse import urlencode

from ..testserver import FakeAPI, Request

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

# Out-of-the-box option sets (Microsoft's Dataverse table reference for account and opportunity):
# entity → attribute → [(value, label, parent state of a status reason)].
_INDUSTRY = [
    "Accounting",
    "Agriculture and Non-petrol Natural Resource Extraction",
    "Broadcasting Printing and Publishing",
    "Brokers",
    "Building Supply Retail",
    "Business Services",
    "Consulting",
    "Consumer Services",
    "Design, Direction and Creative Management",
    "Distributors, Dispatchers and Processors",
    "Doctor's Offices and Clinics",
    "Durable Manufacturing",
    "Eating and Drinking Places",
    "Entertainment Retail",
    "Equipment Rental and Leasing",
    "Financial",
    "Food and Tobacco Processing",
    "Inbound Capital Intensive Processing",
    "Inbound Repair and Services",
    "Insurance",
    "Legal Services",
    "Non-Durable Merchandise Retail",
    "Outbound Consumer Service",
    "Petrochemical Extraction and Distribution",
    "Service Retail",
    "SIG Affiliations",
    "Social Services",
    "Special Outbound Trade Contractors",
    "Specialty Realty",
    "Transportation",
    "Utility Creation and Distribution",
    "Vehicle Retail",
    "Wholesale",
]
_RELATIONSHIP = [
    "Competitor",
    "Consultant",
    "Customer",
    "Investor",
    "Partner",
    "Influencer",
    "Press",
    "Prospect",
    "Reseller",
    "Supplier",
    "Vendor",
    "Other",
]
OPTION_SETS: dict[str, dict[str, list[tuple[int, str, int | None]]]] = {
    "account": {
        "industrycode": [(i + 1, label, None) for i, label in enumerate(_INDUSTRY)],
        "customertypecode": [(i + 1, label, None) for i, label in enumerate(_RELATIONSHIP)],
        "statecode": [(0, "Active", None), (1, "Inactive", None)],
        "statuscode": [(1, "Active", 0), (2, "Inactive", 1)],
    },
    "opportunity": {
        "salesstage": [(0, "Qualify", None), (1, "Develop", None), (2, "Propose", None), (3, "Close", None)],
        "salesstagecode": [(1, "Default Value", None)],  # "Process Code": one option out of the box
        "msdyn_forecastcategory": [
            (100000001, "Pipeline", None),
            (100000002, "Best case", None),
            (100000003, "Committed", None),
            (100000004, "Omitted", None),
            (100000005, "Won", None),
            (100000006, "Lost", None),
        ],
        "statecode": [(0, "Open", None), (1, "Won", None), (2, "Lost", None)],
        "statuscode": [(1, "In Progress", 0), (2, "On Hold", 0), (3, "Won", 1), (4, "Canceled", 2), (5, "Out-Sold", 2)],
    },
}
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
        self._links: dict[str, tuple[list[dict], int]] = {}

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
        if token:
            rows, offset, query = self._links.pop(token)
            return 200, self._page(entity, rows, offset, size, query), {}
        rows = list(entity["records"])
        select = [s for s in request.query.get("$select", "").split(",") if s]
        names = {f"_{n}_value" if t in ("Lookup", "Customer", "Owner") else n for n, t, _ in entity["attributes"]}
        unknown = [s for s in select if s not in names]
        if unknown:
            message = f"Could not find a property named '{unknown[0]}' on type 'Microsoft.Dynamics.CRM.account'."
            return 400, {"error": {"code": "0x80060888", "message": message}}, {}
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
        return 200, self._page(entity, rows, 0, size, request.query), {}

    def _page(self, entity: dict, rows: list[dict], offset: int, size: int, query: dict) -> dict:
        body = {"@odata.context": f"{self.url}{API}/$metadata#{entity['set']}", "value": rows[offset : offset + size]}
        if offset + size < len(rows):
            token = secrets.token_hex(8)
            self._links[token] = (rows, offset + size, query)
            # Dataverse's nextLink repeats the query options and adds a (long, encoded) paging cookie.
            cookie = "%3Ccookie%20pagenumber%3D%22" + str(offset // size + 2) + "%22%20" + "x" * 300 + "%3E"
            options = urlencode({k: v for k, v in query.items() if k != "$skiptoken"})
            body["@odata.nextLink"] = f"{self.url}{API}/{entity['set']}?{options}&$skiptoken={token}&cookie={cookie}"
        return body
