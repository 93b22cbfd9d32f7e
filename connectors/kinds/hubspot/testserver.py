"""A fake HubSpot portal: CRM v3 properties, objects (after paging) and search, the deal pipelines API
(`/crm/v3/pipelines/deals`: the default "Sales Pipeline" and its stage ids), private-app token.

Enumeration properties carry HubSpot's default options (PROPERTY_OPTIONS); `dealstage`'s options are
the pipelines' stages, as in a real portal."""

from __future__ import annotations

import datetime as dt
import re

from ..testserver import FakeAPI, Request

PROPERTY_TYPES = {
    "hs_object_id": "number",
    "annualrevenue": "number",
    "amount": "number",
    "createdate": "datetime",
    "hs_lastmodifieddate": "datetime",
    "closedate": "datetime",
    "hs_is_closed": "bool",
}
SEARCH_WINDOW = 10_000
# The default deal pipeline of a portal: stage id, label, metadata.probability, metadata.isClosed
# (HubSpot Knowledge Base, "Set up and customize your deal pipelines and deal stages").
DEFAULT_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", "0.2", "false"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", "false"),
    ("presentationscheduled", "Presentation Scheduled", "0.6", "false"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", "false"),
    ("contractsent", "Contract Sent", "0.9", "false"),
    ("closedwon", "Closed Won", "1.0", "true"),
    ("closedlost", "Closed Lost", "0.0", "true"),
]
DEFAULT_PIPELINES = [{"id": "default", "label": "Sales Pipeline", "stages": DEFAULT_STAGES}]
# Enumerations with their options, as the properties API describes them (value → label): HubSpot's
# default properties (a part of the 150 industries) and one custom multi-select.
PROPERTY_OPTIONS = {
    "industry": {
        "ACCOUNTING": "Accounting",
        "BANKING": "Banking",
        "COMPUTER_SOFTWARE": "Computer Software",
        "CONSTRUCTION": "Construction",
        "FINANCIAL_SERVICES": "Financial Services",
        "FOOD_BEVERAGES": "Food & Beverages",
        "HIGHER_EDUCATION": "Higher Education",
        "HOSPITAL_HEALTH_CARE": "Hospital & Health Care",
        "INSURANCE": "Insurance",
        "LOGISTICS_AND_SUPPLY_CHAIN": "Logistics and Supply Chain",
        "MACHINERY": "Machinery",
        "MEDIA_PRODUCTION": "Media Production",
        "OIL_ENERGY": "Oil & Energy",
        "RETAIL": "Retail",
        "TELECOMMUNICATIONS": "Telecommunications",
    },
    "type": {
        "PROSPECT": "Prospect",
        "PARTNER": "Partner",
        "RESELLER": "Reseller",
        "VENDOR": "Vendor",
        "OTHER": "Other",
    },
    "dealtype": {"newbusiness": "New Business", "existingbusiness": "Existing Business"},
    # The portal's currencies; HubSpot's exports show the code, which is the option's label too.
    "deal_currency_code": {"USD": "USD", "EUR": "EUR", "GBP": "GBP"},
    "hs_manual_forecast_category": {
        "OMIT": "Not forecasted",
        "PIPELINE": "Pipeline",
        "BEST_CASE": "Best case",
        "COMMIT": "Commit",
        "CLOSED": "Closed won",
    },
    "hs_analytics_source": {
        "ORGANIC_SEARCH": "Organic Search",
        "PAID_SEARCH": "Paid Search",
        "EMAIL_MARKETING": "Email Marketing",
        "SOCIAL_MEDIA": "Organic Social",
        "REFERRALS": "Referrals",
        "OTHER_CAMPAIGNS": "Other Campaigns",
        "DIRECT_TRAFFIC": "Direct Traffic",
        "OFFLINE": "Offline Sources",
        "PAID_SOCIAL": "Paid Social",
    },
    "lifecyclestage": {
        "subscriber": "Subscriber",
        "lead": "Lead",
        "marketingqualifiedlead": "Marketing Qualified Lead",
        "salesqualifiedlead": "Sales Qualified Lead",
        "opportunity": "Opportunity",
        "customer": "Customer",
        "evangelist": "Evangelist",
        "other": "Other",
    },
    "hs_lead_status": {
        "NEW": "New",
        "OPEN": "Open",
        "IN_PROGRESS": "In Progress",
        "OPEN_DEAL": "Open Deal",
        "UNQUALIFIED": "Unqualified",
        "ATTEMPTED_TO_CONTACT": "Attempted to Contact",
        "CONNECTED": "Connected",
        "BAD_TIMING": "Bad Timing",
    },
    "hs_product_interest": {"a": "Alpha", "b": "Beta"},
}
REFERENCES = {"hubspot_owner_id": "OWNER"}  # enumerations whose options are other objects: ids stay ids


def hs_datetime(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def ms_of(value: str) -> int:
    return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def make_companies(n: int, start: dt.datetime | None = None) -> list[dict]:
    start = start or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return [
        {
            "hs_object_id": str(5_000_000_000 + i),
            "name": f"Company {i}",
            "domain": f"company{i}.example",
            "annualrevenue": str(10_000 * i),
            "createdate": hs_datetime(start),
            "hs_lastmodifieddate": hs_datetime(start + dt.timedelta(minutes=i)),
        }
        for i in range(n)
    ]


def make_deals(n: int, start: dt.datetime | None = None) -> list[dict]:
    """Deals through the default pipeline's stages, with HubSpot's internal values."""
    start = start or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return [
        {
            "hs_object_id": str(7_000_000_000 + i),
            "dealname": f"Deal {i}",
            "dealstage": DEFAULT_STAGES[i % len(DEFAULT_STAGES)][0],
            "pipeline": "default",
            "dealtype": "newbusiness" if i % 2 else "existingbusiness",
            "deal_currency_code": ("USD", "EUR", "GBP")[i % 3],
            "amount": str(1000 * (i + 1)),
            "closedate": hs_datetime(start + dt.timedelta(days=30 + i)),
            "createdate": hs_datetime(start),
            "hs_lastmodifieddate": hs_datetime(start + dt.timedelta(minutes=i)),
        }
        for i in range(n)
    ]


def pipeline_body(pipeline: dict, index: int) -> dict:
    """One pipeline as `GET /crm/v3/pipelines/deals` returns it (metadata values are strings)."""
    stamp = "2024-01-01T00:00:00.000Z"
    return {
        "id": pipeline["id"],
        "label": pipeline["label"],
        "displayOrder": index,
        "createdAt": stamp,
        "updatedAt": stamp,
        "archived": False,
        "stages": [
            {
                "id": stage_id,
                "label": label,
                "displayOrder": order,
                "metadata": {"isClosed": closed, "probability": probability},
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for order, (stage_id, label, probability, closed) in enumerate(pipeline["stages"])
        ],
    }


class FakeHubSpot(FakeAPI):
    # HubSpot documents no URL limit; a request line past 8 KB is refused by common front ends.
    max_url = 8_192

    def __init__(
        self,
        *,
        objects: dict[str, list[dict]] | None = None,
        token: str = "pat-na1-11111111-2222",
        pipelines: list[dict] | None = None,
        options: dict[str, dict[str, str]] | None = None,
    ):
        super().__init__()
        self.objects = objects if objects is not None else {"companies": make_companies(12)}
        # pipelines: [{"id", "label", "stages": [(id, label, probability, isClosed)]}]
        self.pipelines = pipelines if pipelines is not None else DEFAULT_PIPELINES
        self.options = dict(options if options is not None else PROPERTY_OPTIONS)
        self.options["dealstage"] = {
            stage_id: label for pipeline in self.pipelines for stage_id, label, _, _ in pipeline["stages"]
        }
        self.options["pipeline"] = {pipeline["id"]: pipeline["label"] for pipeline in self.pipelines}
        self.tokens.add(token)
        self.token = token
        self.archived: dict[str, list[dict]] = {name: [] for name in self.objects}

    def archive(self, obj: str, record_id: str, when: dt.datetime) -> None:
        """Archive (delete) a record as HubSpot does: gone from lists and search, listed with
        `archived=true` (and its `archivedAt`) until it is purged."""
        record = next(r for r in self.objects[obj] if r["hs_object_id"] == record_id)
        self.objects[obj].remove(record)
        self.archived.setdefault(obj, []).append({**record, "_archived_at": hs_datetime(when)})

    def restore(self, obj: str, record_id: str, when: dt.datetime) -> None:
        record = next(r for r in self.archived[obj] if r["hs_object_id"] == record_id)
        self.archived[obj].remove(record)
        record.pop("_archived_at")
        self.objects[obj].append({**record, "hs_lastmodifieddate": hs_datetime(when)})

    def config(self, **extra) -> dict:
        return {"base_url": self.url, "objects": list(self.objects), **extra}

    def secrets(self, **extra) -> dict:
        return {"access_token": self.token, **extra}

    def route(self, request: Request):
        if not self.authorized(request):
            return (
                401,
                {
                    "status": "error",
                    "message": "Authentication credentials not found. This API supports "
                    "OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/",
                    "correlationId": "0b4f7b5e-fake",
                    "category": "INVALID_AUTHENTICATION",
                },
                {},
            )
        m = re.fullmatch(r"/crm/v3/properties/(\w+)", request.path)
        if m and m.group(1) in self.objects:
            return (
                200,
                {"results": [self._property(n) for n in self._names(m.group(1))]},
                {},
            )
        if request.path == "/crm/v3/pipelines/deals" and request.method == "GET":
            return 200, {"results": [pipeline_body(p, i) for i, p in enumerate(self.pipelines)]}, {}
        m = re.fullmatch(r"/crm/v3/objects/(\w+)", request.path)
        if m and m.group(1) in self.objects and request.method == "GET":
            return self._list(m.group(1), request)
        m = re.fullmatch(r"/crm/v3/objects/(\w+)/batch/read", request.path)
        if m and m.group(1) in self.objects and request.method == "POST":
            return self._batch_read(m.group(1), request.json())
        m = re.fullmatch(r"/crm/v3/objects/(\w+)/search", request.path)
        if m and m.group(1) in self.objects and request.method == "POST":
            return self._search(m.group(1), request.json())
        return 404, {"status": "error", "message": "Resource not found", "category": "OBJECT_NOT_FOUND"}, {}

    def _property(self, name: str) -> dict:
        prop = {
            "name": name,
            "label": name.replace("_", " ").title(),
            "type": PROPERTY_TYPES.get(name, "string"),
            "fieldType": "number" if PROPERTY_TYPES.get(name) == "number" else "text",
            "hidden": False,
        }
        if name in self.options or name in REFERENCES:
            options = self.options.get(name) or {"101": "Ada Owner", "102": "Bob Owner"}
            prop |= {
                "type": "enumeration",
                "fieldType": "checkbox" if name == "hs_product_interest" else "select",
                "options": [{"label": label, "value": value, "hidden": False} for value, label in options.items()],
            }
            if name in REFERENCES:
                prop["referencedObjectType"] = REFERENCES[name]
        return prop

    def _names(self, obj: str) -> list[str]:
        names: list[str] = []
        for record in self.objects[obj]:
            names += [k for k in record if k not in names]
        return names

    def _item(self, record: dict, properties: list[str]) -> dict:
        item = {
            "id": record["hs_object_id"],
            "properties": {p: record.get(p) for p in properties},
            "createdAt": record.get("createdate"),
            "updatedAt": record.get("hs_lastmodifieddate"),
            "archived": "_archived_at" in record,
        }
        if "_archived_at" in record:
            item["archivedAt"] = record["_archived_at"]
        return item

    def _list(self, obj: str, request: Request):
        limit = int(request.query.get("limit", 10))
        if limit > 100:
            return 400, {"status": "error", "message": "limit must be <= 100", "category": "VALIDATION_ERROR"}, {}
        after = int(request.query.get("after") or 0)
        props = [p for p in request.query.get("properties", "").split(",") if p] or ["hs_object_id", "name"]
        listed = self.archived.get(obj, []) if request.query.get("archived") == "true" else self.objects[obj]
        rows = sorted(listed, key=lambda r: int(r["hs_object_id"]))
        page = rows[after : after + limit]
        body: dict = {"results": [self._item(r, props) for r in page]}
        if after + limit < len(rows):
            body["paging"] = {
                "next": {"after": str(after + limit), "link": f"{self.url}/crm/v3/objects/{obj}?after={after + limit}"}
            }
        return 200, body, {}

    def _batch_read(self, obj: str, body: dict):
        inputs = body.get("inputs") or []
        if not inputs or len(inputs) > 100:
            return (
                400,
                {"status": "error", "message": "inputs must hold 1 to 100 ids", "category": "VALIDATION_ERROR"},
                {},
            )
        rows = {r["hs_object_id"]: r for r in self.objects[obj]}
        properties = body.get("properties") or ["hs_object_id"]
        found = [rows[i["id"]] for i in inputs if i.get("id") in rows]
        missing = [i["id"] for i in inputs if i.get("id") not in rows]
        out: dict = {
            "status": "COMPLETE",
            "results": [self._item(r, properties) for r in found],
            "startedAt": "2024-01-01T00:00:00Z",
            "completedAt": "2024-01-01T00:00:01Z",
        }
        if missing:  # HubSpot answers 207 Multi-Status with the ids it could not find
            out["numErrors"] = 1
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some records",
                    "context": {"ids": missing},
                }
            ]
            return 207, out, {}
        return 200, out, {}

    def _search(self, obj: str, body: dict):
        limit = int(body.get("limit", 10))
        after = int(body.get("after") or 0)
        if limit > 100 or after + limit > SEARCH_WINDOW:
            return (
                400,
                {"status": "error", "message": "search is limited to 10,000 results", "category": "VALIDATION_ERROR"},
                {},
            )
        rows = list(self.objects[obj])
        for group in body.get("filterGroups", []):
            for f in group.get("filters", []):
                if f["propertyName"] != "hs_lastmodifieddate" or f["operator"] not in ("GTE", "GT"):
                    return 400, {"status": "error", "message": "unsupported filter in fake"}, {}
                bound = int(f["value"])
                rows = [
                    r
                    for r in rows
                    if (
                        ms_of(r["hs_lastmodifieddate"]) >= bound
                        if f["operator"] == "GTE"
                        else ms_of(r["hs_lastmodifieddate"]) > bound
                    )
                ]
        rows.sort(key=lambda r: (ms_of(r["hs_lastmodifieddate"]), int(r["hs_object_id"])))
        page = rows[after : after + limit]
        out: dict = {
            "total": len(rows),
            "results": [self._item(r, body.get("properties") or ["hs_object_id"]) for r in page],
        }
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return 200, out, {}
