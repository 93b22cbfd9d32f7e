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


@lru_cache(maxsize=1)
def region_index() -> tuple[dict[str, str], dict[str, list[str]]]:
    """(code -> provider, name key -> [codes])."""
    codes: dict[str, str] = {}
    names: dict[str, list[str]] = {}

    def add(code: str, name: str, provider: str):
        codes[code] = provider
        if name:
            names.setdefault(_name_key(name), [])
            if code not in names[_name_key(name)]:
                names[_name_key(name)].append(code)

    for code, name in _botocore_regions().items():
        add(code, name, "aws")
    data = _data()
    for provider in ("azure", "gcp", "oci"):
        for code, name in data.get(provider, {}).items():
            add(code, name, provider)
    for name, code in data.get("aws_aliases", {}).items():
        if not name.startswith("_"):
            names.setdefault(_name_key(name), [])
            if code not in names[_name_key(name)]:
                names[_name_key(name)].append(code)
    return codes, names


def _provider_hint(source: str) -> str:
    s = (source or "").lower()
    for p in ("aws", "azure", "gcp", "oci"):
        if p in s:
            return p
    if "google" in s:
        return "gcp"
    if "oracle" in s:
        return "oci"
    if "amazon" in s:
        return "aws"
    return ""


def region(text: str, *, source: str = "") -> Candidate | None:
    codes, names = region_index()
    stripped = text.strip()
    low = stripped.lower()
    if low in codes:
        conf = CODE if stripped == low else CODE - 0.03
        return Candidate(low, conf, "code_list", f"{codes[low]} region code")
    if " ".join(tokens(stripped)) in set(_data().get("no_region", [])):
        return Candidate(None, NO_REGION, "code_list", "names no single region")
    key = _name_key(stripped)
    hits = names.get(key, [])
    hint = _provider_hint(source)
    if len(hits) > 1 and hint:
        hits = [c for c in hits if codes.get(c) == hint] or hits
    if len(hits) == 1:
        if hint and codes.get(hits[0], hint) != hint:
            return Candidate(
                hits[0], 0.6, "code_list", f"display name of a {codes.get(hits[0])} region, source is {hint}"
            )
        return Candidate(hits[0], NAME, "code_list", "region display name")
    if len(hits) > 1:
        return Candidate(hits[0], 0.6, "code_list", "display name of several providers' regions")
    if CODE_LIKE.match(stripped):
        return Candidate(stripped, 0.75, "code_list", "looks like a region code but is in no known catalog")
    # a city alone ("Frankfurt", "Oregon") as in a region's display name
    city = [
        c
        for k, cs in names.items()
        for c in cs
        if compact(fold(stripped)) and k.endswith(compact(fold(stripped))) and len(compact(stripped)) >= 4
    ]
    if len(set(city)) == 1:
        return Candidate(city[0], 0.8, "code_list", "the city of one region's display name")
    return None
