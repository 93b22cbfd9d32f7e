"""A fake Salesforce org: OAuth token endpoint, describe, SOQL query with nextRecordsUrl paging, the
Composite API (a query as a subrequest), and Salesforce's request limits: URI over 16,384 bytes → 414,
URI plus headers over 16,384 → 431, SOQL over 100,000 characters → 400 MALFORMED_QUERY.

Picklist fields describe their values (`picklistValues`: the standard picklists of a new org, see
PICKLISTS) and the setup object `OpportunityStage` answers SOQL with a new org's ten default stages
(`stages=` replaces them)."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from urllib.parse import parse_qs, urlsplit

from ..testserver import FakeAPI, Request

API = "/services/data/v60.0"
FIELD_TYPES = {
    "Id": "id",
    "AccountId": "reference",
    "Name": "string",
    "BillingCity": "string",
    "AnnualRevenue": "currency",
    "NumberOfEmployees": "int",
    "IsDeleted": "boolean",
    "SystemModstamp": "datetime",
    "CreatedDate": "datetime",
    "CloseDate": "date",
    "Amount": "currency",
    "StageName": "picklist",
    "Email": "email",
    "BillingAddress": "address",
    "Industry": "picklist",
    "Type": "picklist",
    "LeadSource": "picklist",
    "ForecastCategoryName": "picklist",
    "CurrencyIsoCode": "picklist",
}
# The standard picklists of a new org (Salesforce Help: Account and Opportunity fields): object →
# field → [(API name, label, active)]. The records make_accounts / make_opportunities serve use them.
_INDUSTRIES = (
    "Agriculture, Apparel, Banking, Biotechnology, Chemicals, Communications, Construction, Consulting, "
    "Education, Electronics, Energy, Engineering, Entertainment, Environmental, Finance, Food & Beverage, "
    "Government, Healthcare, Hospitality, Insurance, Machinery, Manufacturing, Media, Not For Profit, Other, "
    "Recreation, Retail, Shipping, Technology, Telecommunications, Transportation, Utilities"
).split(", ")
PICKLISTS: dict[str, dict[str, list[tuple[str, str, bool]]]] = {
    "Account": {
        "Industry": [(v, v, True) for v in _INDUSTRIES],
        "Type": [
            (v, v, True)
            for v in (
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Channel Partner / Reseller",
                "Installation Partner",
                "Technology Partner",
                "Other",
            )
        ],
    },
    "Opportunity": {
        "Type": [
            (v, v, True)
            for v in (
                "Existing Customer - Upgrade",
                "Existing Customer - Replacement",
                "Existing Customer - Downgrade",
                "New Customer",
            )
        ],
        # a long-lived org: today's defaults, then the older default set it kept (Salesforce Help, Lead Fields)
        "LeadSource": [
            (v, v, True)
            for v in (
                "Web",
                "Phone Inquiry",
                "Partner Referral",
                "Purchased List",
                "Other",
                "Advertisement",
                "Employee Referral",
                "External Referral",
                "Partner",
                "Public Relations",
                "Seminar - Internal",
                "Seminar - Partner",
                "Trade Show",
                "Word of mouth",
            )
        ],
        "ForecastCategoryName": [(v, v, True) for v in ("Omitted", "Pipeline", "Best Case", "Commit", "Closed")],
        "CurrencyIsoCode": [
            ("USD", "U.S. Dollar", True),
            ("EUR", "Euro", True),
            ("GBP", "British Pound", True),
            ("DEM", "German Mark", False),  # a retired currency: old records may still carry it
        ],
    },
}
# A new org's OpportunityStage rows: (ApiName, MasterLabel, DefaultProbability, IsClosed, IsWon,
# ForecastCategoryName). StageName's picklist lists the same API names.
STAGES = [
    ("Prospecting", "Prospecting", 10, False, False, "Pipeline"),
    ("Qualification", "Qualification", 10, False, False, "Pipeline"),
    ("Needs Analysis", "Needs Analysis", 20, False, False, "Pipeline"),
    ("Value Proposition", "Value Proposition", 50, False, False, "Pipeline"),
    ("Id. Decision Makers", "Id. Decision Makers", 60, False, False, "Pipeline"),
    ("Perception Analysis", "Perception Analysis", 70, False, False, "Pipeline"),
    ("Proposal/Price Quote", "Proposal/Price Quote", 75, False, False, "Pipeline"),
    ("Negotiation/Review", "Negotiation/Review", 90, False, False, "Pipeline"),
    ("Closed Won", "Closed Won", 100, True, True, "Closed"),
    ("Closed Lost", "Closed Lost", 0, True, False, "Omitted"),
]


def stage_rows(stages: list[tuple] | None = None) -> list[dict]:
    """OpportunityStage records as SOQL returns them (every queryable field the fake knows)."""
    return [
        {
            "Id": f"01J5g00000{i:05d}AAA",
            "ApiName": api,
            "MasterLabel": label,
            "DefaultProbability": probability,
            "IsActive": True,
            "IsClosed": closed,
            "IsWon": won,
            "ForecastCategoryName": forecast,
            "ForecastCategory": forecast.replace(" ", "").replace("Commit", "Forecast"),
            "SortOrder": i + 1,
        }
        for i, (api, label, probability, closed, won, forecast) in enumerate(stages or STAGES)
    ]


_QUERY = re.compile(
    r"^SELECT (?P<fields>.+?) FROM (?P<obj>\w+)(?: WHERE (?P<where>.+?))?"
    r"(?: ORDER BY (?P<order>.+?))?(?: LIMIT (?P<limit>\d+))?$",
    re.S,
)
REQUEST_LIMIT = 16_384
SOQL_LIMIT = 100_000
_KEYSET = re.compile(r"^SystemModstamp > (?P<a>\S+) OR \(SystemModstamp = (?P<b>\S+) AND Id > '(?P<id>[^']*)'\)$")


def sf_datetime(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def parse_sf(value: str) -> dt.datetime:
    text = value.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return dt.datetime.fromisoformat(text)


def make_accounts(n: int, start: dt.datetime | None = None, *, picklists: bool = False) -> list[dict]:
    """Accounts with ascending SystemModstamp; records come in pairs sharing a timestamp (keyset ties).
    `picklists` adds Industry and Type, with values of the org's picklists."""
    start = start or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    records = []
    for i in range(n):
        stamp = start + dt.timedelta(minutes=10 * (i // 2))
        record = {
            "Id": f"0015g00000{i:05d}AAA",
            "Name": f"Account {i}",
            "BillingCity": "Berlin" if i % 2 else "Paris",
            "AnnualRevenue": 1000.0 * i,
            "NumberOfEmployees": i * 3,
            "IsDeleted": False,
            "BillingAddress": {"city": "Berlin", "country": "DE"},
            "SystemModstamp": sf_datetime(stamp),
        }
        if picklists:
            record["Industry"] = ("Technology", "Banking", "Healthcare", "Retail", None)[i % 5]
            record["Type"] = ("Customer - Direct", "Prospect", "Channel Partner / Reseller")[i % 3]
        records.append(record)
    return records


def make_opportunities(n: int, start: dt.datetime | None = None) -> list[dict]:
    """Opportunities whose StageName, ForecastCategoryName and Probability follow the org's stages."""
    start = start or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    records = []
    for i in range(n):
        api, _, probability, _, _, forecast = STAGES[i % len(STAGES)]
        records.append(
            {
                "Id": f"0065g00000{i:05d}AAA",
                "AccountId": f"0015g00000{i % 5:05d}AAA",
                "Name": f"Opportunity {i}",
                "StageName": api,
                "Probability": probability,
                "ForecastCategoryName": forecast,
                "Type": "New Customer" if i % 2 else "Existing Customer - Upgrade",
                "LeadSource": ("Web", "Partner Referral", "Phone Inquiry")[i % 3],
                "CurrencyIsoCode": ("USD", "EUR", "GBP")[i % 3],
                "Amount": 1000.0 * (i + 1),
                "CloseDate": (start + dt.timedelta(days=30 + i)).date().isoformat(),
                "SystemModstamp": sf_datetime(start + dt.timedelta(minutes=i)),
            }
        )
    return records


class FakeSalesforce(FakeAPI):
    def __init__(
        self,
        *,
        objects: dict[str, list[dict]] | None = None,
        client_id: str = "sf-client",
        client_secret: str = "sf-secret",
        refresh_token: str = "sf-refresh",
        max_batch: int | None = None,
        picklists: dict[str, dict[str, list[tuple[str, str, bool]]]] | None = None,
        stages: list[tuple] | None = None,
    ):
        super().__init__()
        self.objects = objects if objects is not None else {"Account": make_accounts(25)}
        self.picklists = picklists if picklists is not None else PICKLISTS
        self.stages = stage_rows(stages)
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.max_batch = max_batch  # force small pages (the real minimum batch size is 200)
        self._results: dict[str, list[dict]] = {}

    def config(self, **extra) -> dict:
        return {"login_url": self.url, "client_id": self.client_id, "objects": list(self.objects), **extra}

    def secrets(self, **extra) -> dict:
        return {"client_secret": self.client_secret, **extra}

    def too_long(self, request: Request):
        if len(request.target) > REQUEST_LIMIT:
            return 414, [{"errorCode": "URI_TOO_LONG", "message": "URI Too Long"}], {}
        header_bytes = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
        if len(request.target) + header_bytes > REQUEST_LIMIT:
            return 431, [{"errorCode": "HEADERS_TOO_LARGE", "message": "Request Header Fields Too Large"}], {}
        return None

    def route(self, request: Request):
        if request.path == "/services/oauth2/token" and request.method == "POST":
            return self._token(request.form())
        if not self.authorized(request):
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}
        if request.path == f"{API}/sobjects/":
            return (
                200,
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [{"name": n, "queryable": True} for n in self.objects],
                },
                {},
            )
        m = re.fullmatch(rf"{API}/sobjects/(\w+)/describe", request.path)
        if m:
            return self._describe(m.group(1))
        if request.path in (f"{API}/query", f"{API}/queryAll"):
            return self._query(request)
        if request.path == f"{API}/composite" and request.method == "POST":
            return self._composite(request)
        m = re.fullmatch(rf"{API}/query/([\w-]+)-(\d+)", request.path)
        if m and m.group(1) in self._results:
            return 200, self._page(m.group(1), int(m.group(2)), self._batch(request)), {}
        return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}

    def _token(self, form: dict):
        grant = form.get("grant_type")
        ok = form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret
        if grant == "refresh_token":
            ok = ok and form.get("refresh_token") == self.refresh_token
        elif grant not in ("client_credentials", "password"):
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, {}
        if not ok:
            return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, {}
        return (
            200,
            {
                "access_token": self.issue_token(),
                "instance_url": self.url,
                "id": f"{self.url}/id/00D000000000001/0055g0000000001",
                "token_type": "Bearer",
                "issued_at": "1700000000000",
                "signature": secrets.token_urlsafe(16),
            },
            {},
        )

    def _fields(self, obj: str) -> list[str]:
        names: list[str] = []
        for record in self.objects[obj]:
            names += [k for k in record if k not in names]
        return names

    def _describe(self, obj: str):
        if obj not in self.objects:
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}
        fields = [
            {
                "name": n,
                "type": FIELD_TYPES.get(n, "string"),
                "nillable": n != "Id",
                "label": n,
                "picklistValues": self._picklist(obj, n),
            }
            for n in self._fields(obj)
        ]
        return 200, {"name": obj, "queryable": True, "fields": fields}, {}

    def _picklist(self, obj: str, name: str) -> list[dict]:
        if FIELD_TYPES.get(name) not in ("picklist", "multipicklist"):
            return []
        if name == "StageName":
            values = [(s["ApiName"], s["MasterLabel"], s["IsActive"]) for s in self.stages]
        else:
            values = self.picklists.get(obj, {}).get(name, [])
        return [
            {"active": active, "defaultValue": False, "label": label, "validFor": None, "value": value}
            for value, label, active in values
        ]

    def _batch(self, request: Request) -> int:
        m = re.search(r"batchSize=(\d+)", request.headers.get("sforce-query-options", ""))
        size = int(m.group(1)) if m else 2000
        return min(size, self.max_batch) if self.max_batch else size

    def _composite(self, request: Request):
        answers = []
        for sub in request.json().get("compositeRequest", []):
            parts = urlsplit(sub["url"])
            inner = Request(
                method=sub["method"],
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                headers={k.lower(): v for k, v in (sub.get("httpHeaders") or {}).items()},
                body=b"",
                target=sub["url"],
            )
            if inner.method != "GET" or inner.path not in (f"{API}/query", f"{API}/queryAll"):
                status, body = 400, [{"errorCode": "INVALID_SUBREQUEST", "message": "fake supports query only"}]
            else:
                status, body, _ = self._query(inner)
            answers.append(
                {"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": sub["referenceId"]}
            )
        return 200, {"compositeResponse": answers}, {}

    def delete(self, obj: str, record_id: str, when: dt.datetime) -> None:
        """Delete a record as Salesforce does: it goes to the recycle bin (`IsDeleted` true, its
        SystemModstamp moved to `when`), seen by queryAll and no longer by query."""
        for record in self.objects[obj]:
            if record["Id"] == record_id:
                record["IsDeleted"] = True
                record["SystemModstamp"] = sf_datetime(when)

    def _query(self, request: Request):
        if len(request.query.get("q", "")) > SOQL_LIMIT:
            return (
                400,
                [{"errorCode": "MALFORMED_QUERY", "message": "SOQL statements cannot exceed 100000 characters"}],
                {},
            )
        m = _QUERY.match(request.query.get("q", "").strip())
        if m and m.group("obj") == "OpportunityStage":
            return self._stage_query(request, m)
        if not m or m.group("obj") not in self.objects:
            return 400, [{"errorCode": "MALFORMED_QUERY", "message": "unexpected token"}], {}
        obj = m.group("obj")
        fields = [f.strip() for f in m.group("fields").split(",")]
        known = self._fields(obj)
        for f in fields:
            if f not in known or FIELD_TYPES.get(f) == "address":
                return 400, [{"errorCode": "INVALID_FIELD", "message": f"No such column '{f}' on entity '{obj}'"}], {}
        deleted = request.path.endswith("/queryAll")  # queryAll also returns the recycle bin
        rows = [r for r in self.objects[obj] if deleted or not r.get("IsDeleted")]
        if m.group("where"):
            k = _KEYSET.match(m.group("where"))
            if not k or k.group("a") != k.group("b"):
                return 400, [{"errorCode": "MALFORMED_QUERY", "message": "unsupported WHERE in fake"}], {}
            since, last = parse_sf(k.group("a")), k.group("id")
            rows = [
                r
                for r in rows
                if parse_sf(r["SystemModstamp"]) > since or (parse_sf(r["SystemModstamp"]) == since and r["Id"] > last)
            ]
        order = (m.group("order") or "").replace(" ASC", "")
        if order.startswith("SystemModstamp DESC"):
            rows.sort(key=lambda r: parse_sf(r["SystemModstamp"]), reverse=True)
        elif order:
            rows.sort(key=lambda r: (parse_sf(r["SystemModstamp"]), r["Id"]))
        if m.group("limit"):
            rows = rows[: int(m.group("limit"))]
        rows = [
            {"attributes": {"type": obj, "url": f"{API}/sobjects/{obj}/{r['Id']}"}, **{f: r.get(f) for f in fields}}
            for r in rows
        ]
        locator = f"01g{secrets.token_hex(6)}"
        self._results[locator] = rows
        return 200, self._page(locator, 0, self._batch(request)), {}

    def _stage_query(self, request: Request, m: re.Match):
        fields = [f.strip() for f in m.group("fields").split(",")]
        known = set(stage_rows()[0])
        for f in fields:
            if f not in known:
                message = f"No such column '{f}' on entity 'OpportunityStage'"
                return 400, [{"errorCode": "INVALID_FIELD", "message": message}], {}
        rows = sorted(self.stages, key=lambda r: r["SortOrder"])
        rows = [
            {"attributes": {"type": "OpportunityStage", "url": f"{API}/sobjects/OpportunityStage/{r['Id']}"}}
            | {f: r.get(f) for f in fields}
            for r in rows
        ]
        locator = f"01g{secrets.token_hex(6)}"
        self._results[locator] = rows
        return 200, self._page(locator, 0, self._batch(request)), {}

    def _page(self, locator: str, offset: int, batch: int) -> dict:
        rows = self._results[locator]
        page = rows[offset : offset + batch]
        done = offset + batch >= len(rows)
        body = {"totalSize": len(rows), "done": done, "records": page}
        if not done:
            body["nextRecordsUrl"] = f"{API}/query/{locator}-{offset + batch}"
        return body
