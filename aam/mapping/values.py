"""Value patterns: what a column's sample values look like.

`profile_values(declared_type, samples)` classifies every non-empty sample into kinds (email, phone,
url, domain, currency_code, country, state, postal_code, date, datetime, boolean, integer, number,
money, percent, sf_id, guid, aws_account_id, cloud_region, cloud_az, arn, cloud_resource_id, json,
key_value, textual, identifier...) and adds column-level kinds (probability, option_set). The
profile also carries the effective type (a HubSpot `"true"` string column is boolean) and a short
signature used by the memory to compare columns.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from autonomos.core.parsers import loads as json_loads

REFERENCE_PATH = Path(__file__).resolve().parent / "reference_values.json"

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,24}$")
_URL = re.compile(r"^(https?://|www\.)\S+$", re.I)
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,12})/?$", re.I)
_PHONE = re.compile(r"^\+?[\d\s().\-/]{7,24}(?:\s*(?:x|ext\.?)\s*\d{1,6})?$", re.I)
_INT = re.compile(r"^[+-]?\d+$")
_NUM = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_MONEY = re.compile(
    r"^(?:[A-Z]{3}\s?)?[-+]?[$€£¥₹]?\s?[-+]?(?:\d{1,3}(?:[,\s]\d{3})+|\d+)(?:[.,]\d+)?\s?(?:[$€£¥₹]|[A-Z]{3})?$"
)
# `48.000.000`, `84.000,00`, `12,5`: continental European grouping and decimal comma (hand-kept sheets)
_EU_NUM = re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+,\d{1,2})$")
_APPROX_NUM = re.compile(r"^(?:~|≈|ca?\.\s?)\s?\d{1,3}(?:,\d{3})*(?:\.\d+)?\+?$|^\d{1,3}(?:,\d{3})*\+$")
_PERCENT = re.compile(r"^[+-]?\d+(?:\.\d+)?\s?%$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}| ?UTC)?$", re.I
)
_OTHER_DATE = re.compile(
    r"^(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}/\d{1,2}/\d{1,2}|"
    r"(?:\d{1,2}\s)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s\d{1,2}(?:st|nd|rd|th)?,?\s\d{4}|"
    r"\d{1,2}\s(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s\d{4}|\d{4}-\d{2})$",
    re.I,
)
_OTHER_DATETIME = re.compile(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}[ T]\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AP]M)?$", re.I)
_GUID = re.compile(r"^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$|^[0-9a-f]{32}$", re.I)
_SFID = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
# other clouds: `<geo>-<place>-<n>` (Oracle us-ashburn-1, Alibaba cn-hangzhou-1 style)
_GEO_REGION = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]{4,}-\d{1,2}$")
_AWS_REGION = re.compile(
    r"^(?:us|eu|ap|sa|ca|me|af|il|mx|cn)(?:-gov|-iso|-isob)?-(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}$"
)
_GCP_REGION = re.compile(
    r"^(?:us|europe|asia|australia|northamerica|southamerica|me|africa)-(?:north|south|east|west|central|northeast|northwest|southeast|southwest)\d{1,2}$"
)
_CLOUD_RES = re.compile(
    r"^(?:i|vol|vpc|subnet|sg|ami|snap|eni|igw|nat|db|lt|rtb|acl|eipalloc|eni|fs|fsap|r|cluster)-[0-9a-zA-Z]{6,}$|^/subscriptions/|^projects/[^/]+/|^//[a-z]+\.googleapis\.com/"
)
_KEY_VALUE = re.compile(r"^\s*[\w.:/-]+\s*[=:]\s*[^,;]*(?:[,;]\s*[\w.:/-]+\s*[=:]\s*[^,;]*)*$")
_QUOTED_PAIRS = re.compile(r'^\s*"[^"]+"\s*:\s*"[^"]*"(?:\s*,\s*"[^"]+"\s*:\s*"[^"]*")*\s*$')
_HAS_LETTER = re.compile(r"[A-Za-zÀ-ÿ]")
_DEAL_OUTCOMES = {
    "won",
    "lost",
    "open",
    "closed won",
    "closed lost",
    "closedwon",
    "closedlost",
    "closed_won",
    "closed_lost",
    "abandoned",
}
_BOOL_WORDS = {"true", "false", "yes", "no", "y", "n", "t", "f"}
_SF_CHECK = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_UK_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}$", re.I)
_CA_POSTCODE = re.compile(r"^[A-Z]\d[A-Z]\s?\d[A-Z]\d$", re.I)
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_ZIP = re.compile(r"^\d{4,6}(?:-\d{3,4})?$")

STRONG_KINDS = frozenset(
    {
        "deal_outcome",
        "email",
        "url",
        "domain",
        "phone",
        "currency_code",
        "country",
        "state",
        "postal_code",
        "sf_id",
        "guid",
        "cloud_region",
        "cloud_az",
        "arn",
        "aws_account_id",
        "probability",
        "datetime",
        "date",
        "boolean",
        "money",
        "cloud_resource_id",
        "option_set",
        "json",
        "key_value",
    }
)


@dataclass(frozen=True)
class Reference:
    countries: frozenset[str]
    states: frozenset[str]
    currencies: frozenset[str]
    currency_names: frozenset[str]
    tlds: frozenset[str]
    azure_regions: frozenset[str]
    sf_key_prefixes: Mapping[str, str]


@lru_cache(maxsize=1)
def reference() -> Reference:
    with open(REFERENCE_PATH, encoding="utf-8") as fh:
        data = json.load(fh)
    countries = {c.lower() for c in data["country_alpha2"].split()} | {
        c.lower() for c in data["country_alpha3"].split()
    }
    countries |= {c.lower() for c in data["country_names"]}
    return Reference(
        countries=frozenset(countries),
        states=frozenset(s.lower() for s in data["states"]),
        currencies=frozenset(data["currencies"].split()),
        currency_names=frozenset(data.get("currency_names", ())),
        tlds=frozenset(data["tlds"].split()),
        azure_regions=frozenset(data["azure_regions"].split()),
        sf_key_prefixes=dict(data["sf_key_prefixes"]),
    )


_CLOUD_PREFIX = re.compile(r"^(?:aws|amazon|azure|gcp|google|oci)[-_:/]")


def _region_form(low: str) -> str:
    """A region written another way: `AWS_US_WEST_2` (Snowflake and other multi-cloud vendors put the
    cloud in front and use underscores) → `us-west-2`; `azure_eastus2` → `eastus2`."""
    if "_" not in low and not _CLOUD_PREFIX.match(low):
        return low
    stripped = _CLOUD_PREFIX.sub("", low, count=1)
    return stripped.replace("_", "-") if "-" in stripped or "_" in stripped else stripped


def _free_text(s: str) -> bool:
    """Prose rather than a label: several words, one of them a lowercase content word (`Needs SOC2
    report`, `Budget frozen`), where names and labels capitalize every word (`Acme Robotics Inc.`)."""
    words = s.split()
    if len(words) < 2:
        return False
    if len(words) >= 5:
        return True
    return any(w[:1].islower() and w.isalpha() and w not in _FUNCTION_WORDS for w in words[1:])


_FUNCTION_WORDS = frozenset("of the and or for in on at to a an by with de la von van der".split())


def is_salesforce_id(value: str) -> bool:
    """A 15- or 18-character Salesforce record id (18-character ids carry a checksum we verify)."""
    if not _SFID.match(value) or sum(c.isdigit() for c in value) < 4:
        return False
    if len(value) == 18:
        for chunk in range(3):
            bits = sum(1 << i for i, c in enumerate(value[chunk * 5 : chunk * 5 + 5]) if c.isupper())
            if value[15 + chunk] != _SF_CHECK[bits]:
                return False
        return True
    # 15 characters: a key prefix, then mostly digits then a mixed-case tail
    return value[0].isdigit() or value[:1].islower() and value[1].isdigit()


def _number(text: str) -> float | None:
    if _EU_NUM.match(text):
        text = text.replace(".", "").replace(",", ".")
    t = text.replace(",", "")
    try:
        v = float(t)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


@lru_cache(maxsize=65536)
def _string_kinds(text: str) -> frozenset[str]:
    ref = reference()
    s = text.strip()
    low = s.lower()
    kinds: set[str] = set()
    if not s:
        return frozenset()
    if low in _DEAL_OUTCOMES:
        return frozenset({"deal_outcome", "textual", "identifier"})
    if low in _BOOL_WORDS:
        kinds.add("boolean")
        if low in ("yes", "no", "true", "false"):
            return frozenset(kinds | {"textual"})
        return frozenset(kinds)
    if (s[0] in "{[") and s[-1] in "}]":
        try:
            parsed = json_loads(s)  # never RecursionError: too deep is not JSON here (autonomos/core/parsers.py)
        except ValueError:
            pass
        else:
            return frozenset({"json"}) | _json_kinds(parsed)
    if _INT.match(s):
        kinds |= {"integer", "number"}
        digits = s.lstrip("+-")
        if s.startswith("+") and 8 <= len(digits) <= 15:
            kinds.add("phone")  # E.164 (`+14155550142`): a CSV type guesser calls it an integer
        if len(digits) == 12:
            kinds.add("aws_account_id")
        if not s.startswith(("+", "-")):
            kinds.add("identifier")  # auto-increment keys are small integers
        if _ZIP.match(s):
            kinds.add("postal_code")
        n = int(s)
        if len(digits) == 13 and 10**12 <= n < 4 * 10**12 or len(digits) == 10 and 10**9 <= n < 4 * 10**9:
            kinds.add("epoch")
        return frozenset(kinds)
    if _NUM.match(s) and any(c.isdigit() for c in s):
        return frozenset({"number"})
    if _APPROX_NUM.match(s):
        return frozenset({"number"})  # a hand-typed estimate: `~40`, `500+`
    if _PERCENT.match(s):
        return frozenset({"percent", "number"})
    if _ISO_DATETIME.match(s) or _OTHER_DATETIME.match(s):
        return frozenset({"datetime"})
    if _ISO_DATE.match(s) or _OTHER_DATE.match(s):
        return frozenset({"date"})
    if _EU_NUM.match(s):
        return frozenset({"number"})
    if _MONEY.match(s) and any(c.isdigit() for c in s):
        letters = "".join(c for c in s if c.isalpha())
        # `OPP-311` is an id, not 311 of a currency called OPP
        if not letters and any(c in s for c in "$€£¥₹") or letters in ref.currencies:
            return frozenset({"money", "number"})
    if _EMAIL.match(s):
        return frozenset({"email"})
    if low.startswith("arn:"):
        return frozenset({"arn", "identifier", "cloud_resource_id"})
    if _URL.match(s):
        return frozenset({"url"})
    if _GUID.match(s):
        return frozenset({"guid", "identifier"})
    region = _region_form(low)
    if (
        _AWS_REGION.match(region)
        or _GCP_REGION.match(region)
        or _GEO_REGION.match(region)
        or region in ref.azure_regions
    ):
        kinds |= {"cloud_region", "identifier"}
    elif _AWS_REGION.match(low[:-1]) and low[-1].isalpha() or _GCP_REGION.match(low[:-2]) and low[-2] == "-":
        kinds |= {"cloud_az", "identifier"}
    if _CLOUD_RES.match(s):
        kinds |= {"cloud_resource_id", "identifier"}
    if is_salesforce_id(s):
        kinds |= {"sf_id", "identifier"}
    m = _DOMAIN.match(low)
    if m and m.group(1) in ref.tlds and not any(c.isdigit() for c in m.group(1)):
        kinds.add("domain")
    if len(s) == 3 and s.isupper() and s in ref.currencies or low in ref.currency_names:
        kinds.add("currency_code")  # `USD`, or the currency by name as ERPs export it (`US Dollar`)
    bare = s.replace(".", "")
    if len(bare) <= 3 and bare.isupper() and bare.lower() in ref.countries or len(bare) > 3 and low in ref.countries:
        kinds.add("country")
    if len(s) <= 3 and s.isupper() and low in ref.states or len(s) > 3 and low in ref.states:
        kinds.add("state")
    if _IPV4.match(s):
        return frozenset({"ip_address"})
    if _UK_POSTCODE.match(s) or _CA_POSTCODE.match(s):
        kinds.add("postal_code")
    digits = sum(c.isdigit() for c in s)
    if _PHONE.match(s) and digits >= 7 and (not s.isdigit()) and not kinds & {"postal_code"}:
        kinds.add("phone")
    if not kinds and ("=" in s and _KEY_VALUE.match(s) or _QUOTED_PAIRS.match(s)):
        kinds.add("key_value")  # `env=prod;team=web` or Azure's `"env": "prod","team": "web"`
    has_space = " " in s
    if _HAS_LETTER.search(s) and not kinds & {"sf_id", "guid", "phone"}:
        kinds.add("textual")
        if has_space and _free_text(s):
            kinds.add("free_text")
    # `Globex`, `Initech`: a capitalized word is how people write a display name, not a key
    display_word = s.isalpha() and len(s) > 1 and s[0].isupper() and s[1:].islower()
    if not has_space and not kinds & {"phone"} and (digits or "_" in s or "-" in s or s.isalpha() and not display_word):
        kinds.add("identifier")
    return frozenset(kinds)


# what a JSON value's leaves may reveal about the column
_LEAF_KINDS = frozenset({"email", "phone", "url", "domain"})


def _json_kinds(parsed: Any) -> frozenset[str]:
    """Kinds a JSON value carries inside it: a flat object of scalar labels is a tag set (`{"env": "prod"}`,
    `["key-account", "dach"]` is a label list, not tags with values), and a list of contact points
    (`[{"value": "a@b.com", "primary": true}]`, Pipedrive, Close, Copper) carries the kind of its primary
    value, so a column of such lists is recognizably emails or phones."""
    if isinstance(parsed, dict):
        if parsed and all(isinstance(v, (str, int, float, bool)) or v is None for v in parsed.values()):
            return frozenset({"key_value"})
        return frozenset()
    if not isinstance(parsed, list) or not parsed:
        return frozenset()
    items = [x for x in parsed if isinstance(x, dict)]
    if items and len(items) == len(parsed):
        if all({"key", "value"} <= set(x) for x in items):
            return frozenset({"key_value"})  # `[{"key": "env", "value": "prod"}]` (GCP labels, AWS tags)
        primary = next((x for x in items if x.get("primary") in (True, "true", 1)), items[0])
        leaf = primary.get("value", primary.get("address", primary.get("email", primary.get("number"))))
        if isinstance(leaf, (str, int)) and not isinstance(leaf, bool):
            inner = _string_kinds(str(leaf)[:500])
            return frozenset(inner & _LEAF_KINDS)
    return frozenset()


def sample_kinds(value: Any) -> frozenset[str]:
    """The kinds of one sample value (empty for null / blank)."""
    if value is None:
        return frozenset()
    if isinstance(value, bool):
        return frozenset({"boolean"})
    if isinstance(value, int):
        return _string_kinds(str(value))
    if isinstance(value, (float, Decimal)):
        if isinstance(value, float) and not math.isfinite(value):
            return frozenset()
        if float(value).is_integer():
            return frozenset({"number", "integer"})
        return frozenset({"number"})
    if isinstance(value, datetime):
        return frozenset({"datetime"})
    if isinstance(value, date):
        return frozenset({"date"})
    if isinstance(value, (dict, list, tuple)):
        return frozenset({"json"}) | _json_kinds(list(value) if isinstance(value, tuple) else value)
    return _string_kinds(str(value)[:500])


@dataclass(frozen=True)
class ValueProfile:
    declared: str
    effective: str
    n: int
    kinds: Mapping[str, float] = field(default_factory=dict)
    sf_prefixes: tuple[str, ...] = ()
    numbers: tuple[float, ...] = ()
    per_sample: tuple[frozenset[str], ...] = ()
    distinct: int = 0  # distinct non-empty sample values

    @property
    def constant(self) -> bool:
        """The same value in every one of at least three samples."""
        return self.n >= 3 and self.distinct == 1

    def share(self, kind: str) -> float:
        return self.kinds.get(kind, 0.0)

    def any_share(self, kinds: Sequence[str]) -> float:
        """Share of the samples that have at least one of `kinds`."""
        if not self.per_sample:
            return 0.0
        wanted = set(kinds)
        column_level = max(
            (self.kinds.get(k, 0.0) for k in wanted & {"probability", "option_set", "boolean"}), default=0.0
        )
        hits = sum(1 for ks in self.per_sample if ks & wanted) / len(self.per_sample)
        return max(hits, column_level)

    @property
    def signature(self) -> str:
        """A short description for memory retrieval: the dominant specific kind, else the type."""
        for kind in (
            "email",
            "url",
            "domain",
            "phone",
            "sf_id",
            "guid",
            "currency_code",
            "country",
            "state",
            "cloud_region",
            "cloud_az",
            "arn",
            "aws_account_id",
            "probability",
            "option_set",
            "boolean",
            "datetime",
            "date",
            "money",
            "json",
            "postal_code",
        ):
            if kind == "postal_code" and self.declared != "string":
                continue
            if self.kinds.get(kind, 0.0) >= 0.6:
                if kind == "sf_id" and self.sf_prefixes:
                    return f"sf_id:{self.sf_prefixes[0]}"
                return kind
        return self.effective


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, str):
        return _number(value.strip().rstrip("%"))
    return None


def profile_values(declared_type: str, samples: Sequence[Any]) -> ValueProfile:
    # an empty tag set or list (`{}`, `[]`) says as little as an empty cell
    values = [
        v
        for v in samples
        if v is not None
        and not (isinstance(v, str) and v.strip() in ("", "{}", "[]"))
        and not (isinstance(v, (dict, list)) and not v)
    ]
    n = len(values)
    if n == 0:
        return ValueProfile(declared=declared_type, effective=declared_type, n=0)
    per_sample = [sample_kinds(v) for v in values]
    counts: Counter[str] = Counter()
    for ks in per_sample:
        counts.update(ks)
    kinds = {k: c / n for k, c in counts.items()}

    numbers = tuple(x for x in (_to_float(v) for v in values) if x is not None)
    all_numeric = len(numbers) == n
    all_int = all_numeric and all(float(x).is_integer() for x in numbers)
    if all_numeric and n >= 1:
        lo, hi = min(numbers), max(numbers)
        distinct = set(numbers)
        if distinct <= {0.0, 1.0} and declared_type in ("boolean", "integer") and n >= 2:
            kinds["boolean"] = 1.0
        fractional = 0.0 <= lo and hi <= 1.0 and not all_int
        percent_like = 0.0 <= lo and hi <= 100.0 and not distinct <= {0.0, 1.0}
        if fractional or percent_like:
            kinds["probability"] = 1.0
        if (
            all_int
            and declared_type in ("integer", "string")
            and lo >= 0
            and all(x <= 1000 or 100_000_000 <= x < 101_000_000 for x in numbers)
            and (hi >= 100_000_000 or declared_type == "integer")
        ):
            # Dynamics option sets (100000000 and up for custom options) and small integer codes
            kinds["option_set"] = 1.0
    prefixes = Counter(str(v)[:3] for v, ks in zip(values, per_sample, strict=True) if "sf_id" in ks)

    effective = declared_type
    if declared_type in ("string", "number", "integer"):
        for kind, typ in (("boolean", "boolean"), ("datetime", "datetime"), ("date", "date"), ("json", "json")):
            if kinds.get(kind, 0) == 1.0 and not (kind == "boolean" and all_numeric and declared_type != "string"):
                effective = typ
                break
        else:
            temporal = sum(1 for ks in per_sample if ks & {"date", "datetime"})
            if declared_type == "string" and temporal == n and n >= 2:
                # a hand-kept column in mixed formats (`2024-03-01`, `3/5/24`, `2024-02-20 16:40`)
                effective = "datetime"
        if effective == declared_type:
            if declared_type == "string" and all_numeric and kinds.get("number", 0) == 1.0:
                effective = "integer" if all_int else "number"
    return ValueProfile(
        declared=declared_type,
        effective=effective,
        n=n,
        kinds=kinds,
        sf_prefixes=tuple(p for p, _ in prefixes.most_common()),
        numbers=numbers[:8],
        per_sample=tuple(per_sample),
        distinct=len({str(v).strip() for v in values}),
    )


def sf_prefix_entity(prefix: str) -> str | None:
    return reference().sf_key_prefixes.get(prefix)
