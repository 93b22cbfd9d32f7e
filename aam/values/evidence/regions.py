"""Provider region catalogs: a region code, or a display name such as "US East (N. Virginia)", to
the provider's own region code.

AWS comes from botocore's `endpoints.json` (the data file ships with botocore; botocore itself is
not imported), Azure, GCP and OCI from the vendors' documented lists in `data/cloud_regions.json`.
"Any", "Global", "External" name no single region: canonical None."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from ..normalize import compact, fold, tokens
from . import Candidate

DATA = Path(__file__).resolve().parent.parent / "data" / "cloud_regions.json"
VALID_CODE = re.compile(r"^[a-z][a-z0-9-]*[0-9a-z]$")  # the vocabulary's rule for a region code
CODE_LIKE = re.compile(r"^[a-z]{2,}(?:-[a-z0-9]+)*-?[0-9]+[a-z]?$")

CODE = 0.98
NAME = 0.96
NO_REGION = 0.9


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def _botocore_regions() -> dict[str, str]:
    spec = find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "endpoints.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        return {}
    out = {}
    for part in data.get("partitions", []):
        for code, info in part.get("regions", {}).items():
            out[code] = info.get("description") or ""
    return out


def _name_key(text: str) -> str:
    # "EU (Frankfurt)" and "Europe (Frankfurt)" are one name (AWS renamed them in 2023)
    toks = ["europe" if t == "eu" else t for t in tokens(text)]
    return "".join(toks)


PROVIDERS = ("azure", "gcp", "oci", "alibaba", "ibm")
# Words in a source's name that say which provider's regions its column holds.
PROVIDER_WORDS = {
    "aws": ("aws", "amazon"),
    "azure": ("azure", "microsoft"),
    "gcp": ("gcp", "google"),
    "oci": ("oci", "oracle"),
    "alibaba": ("alibaba", "aliyun"),
    "ibm": ("ibm",),
}
ZONE = re.compile(
    r"^(?P<region>[a-z]{2,}(?:-[a-z0-9]+)*?)(?:-[a-z]|[a-z])$"
)  # us-central1-a, us-east-1a, cn-hangzhou-b
OCI_AD = re.compile(r"^(?:[a-z0-9]+:)?(?P<key>[a-z]{3})-ad-\d$", re.IGNORECASE)  # Uocm:PHX-AD-1


@lru_cache(maxsize=1)
def region_index() -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """(code -> the providers that use it, name key -> [codes])."""
    codes: dict[str, set[str]] = {}
    names: dict[str, list[str]] = {}

    def add(code: str, name: str, provider: str):
        codes.setdefault(code, set()).add(provider)
        if name:
            bucket = names.setdefault(_name_key(name), [])
            if code not in bucket:
                bucket.append(code)

    for code, name in _botocore_regions().items():
        add(code, name, "aws")
    data = _data()
    for provider in PROVIDERS:
        for code, name in data.get(provider, {}).items():
            add(code, name, provider)
    for name, code in data.get("aws_aliases", {}).items():
        if not name.startswith("_"):
            bucket = names.setdefault(_name_key(name), [])
            if code not in bucket:
                bucket.append(code)
    return codes, names


@lru_cache(maxsize=1)
def _code_providers() -> dict[tuple[str, str], str]:
    """(provider, code) pairs as a lookup: does `provider` use `code`?"""
    codes, _ = region_index()
    return {(p, c): c for c, ps in codes.items() for p in ps}


def _provider_hint(source: str) -> str:
    s = (source or "").lower()
    for provider, words in PROVIDER_WORDS.items():
        if any(w in s for w in words):
            return provider
    return ""


def _zone_region(low: str, codes: dict[str, set[str]]) -> str | None:
    m = ZONE.match(low)
    if m and m.group("region") in codes:
        return m.group("region")
    m = OCI_AD.match(low)
    if m:
        return _data().get("oci_keys", {}).get(m.group("key").upper())
    return None


def region(text: str, *, source: str = "") -> Candidate | None:
    """The provider's region code `text` names. When the source names its provider, only that
    provider's catalog answers with confidence: a city or code of another provider is a review."""
    codes, names = region_index()
    stripped = text.strip()
    low = stripped.lower()
    hint = _provider_hint(source)
    uses = _code_providers()

    def mine(code: str) -> bool:
        return not hint or (hint, code) in uses

    if low in codes:
        if mine(low):
            conf = CODE if stripped == low else CODE - 0.03
            return Candidate(low, conf, "code_list", f"{'/'.join(sorted(codes[low]))} region code")
        return Candidate(low, 0.6, "code_list", f"a {'/'.join(sorted(codes[low]))} region code, source is {hint}")
    key3 = stripped.upper()
    oci_keys = _data().get("oci_keys", {})
    if len(key3) == 3 and key3 in oci_keys and hint in ("oci", ""):
        return Candidate(oci_keys[key3], 0.95 if hint == "oci" else 0.6, "code_list", "OCI region key")
    zone_of = _zone_region(low, codes)
    if zone_of is not None:
        return Candidate(zone_of, 0.95 if mine(zone_of) else 0.6, "code_list", "a zone of this region")
    words = " ".join(tokens(stripped))
    if words in set(_data().get("no_region", [])) or words in set(_data().get("multi_region", [])):
        return Candidate(None, NO_REGION, "code_list", "names no single region")
    key = _name_key(stripped)
    hits = names.get(key, [])
    if hint:
        own = [c for c in hits if (hint, c) in uses]
        if own:
            hits = own
    if len(hits) == 1:
        if not mine(hits[0]):
            owners = "/".join(sorted(codes.get(hits[0], ())))
            return Candidate(hits[0], 0.6, "code_list", f"display name of a {owners} region, source is {hint}")
        return Candidate(hits[0], NAME, "code_list", "region display name")
    if len(hits) > 1:
        return Candidate(hits[0], 0.6, "code_list", "display name of several providers' regions")
    if CODE_LIKE.match(stripped):
        return Candidate(stripped, 0.75, "code_list", "looks like a region code but is in no known catalog")
    # a city alone ("Frankfurt", "Oregon") as in a region's display name
    place = compact(fold(stripped))
    if len(place) < 4:
        return None
    city = {c for k, cs in names.items() if k.endswith(place) for c in cs}
    if hint:
        city = {c for c in city if (hint, c) in uses} or {c for c in city if not mine(c)}
    if len(city) == 1:
        code = next(iter(city))
        if mine(code):
            return Candidate(code, 0.8, "code_list", "the city of one region's display name")
        return Candidate(code, 0.6, "code_list", f"the city of a region of another provider, source is {hint}")
    return None
