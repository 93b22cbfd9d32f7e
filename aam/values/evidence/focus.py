"""FOCUS ServiceCategory: the published crosswalks of cloud services (data/focus_service_crosswalk.json,
from the FinOps Foundation's focus_converters: AWS product codes, Azure resource provider
namespaces, GCP service names).

A CUR ProductName ("Amazon Simple Notification Service") is linked to its product code
(AmazonSNS) by the name without the vendor prefix, an acronym in parentheses or the initials of its
words; anything not in a crosswalk is left to the lexical evidence (service-name keywords)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from ..normalize import compact, tokens
from . import Candidate

DATA = Path(__file__).resolve().parent.parent / "data" / "focus_service_crosswalk.json"
VENDOR_PREFIX = re.compile(r"^(amazon|aws|microsoft|azure|google|gcp|cloud)+")

CROSSWALK = 0.95  # the product code itself
LINKED = 0.92  # a service name linked to a product code


def _key(text: str) -> str:
    return VENDOR_PREFIX.sub("", compact(text)) or compact(text)


@lru_cache(maxsize=1)
def crosswalk() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """(exact compact name -> (category, provider), key without vendor prefix -> (category, provider))."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    exact: dict[str, tuple[str, str]] = {}
    stripped: dict[str, tuple[str, str]] = {}
    for provider, table in data.items():
        if provider.startswith("_"):
            continue
        for name, category in table.items():
            exact.setdefault(compact(name), (category, provider))
            if provider == "azure":
                stripped.setdefault(_key(name.split(".", 1)[-1]), (category, provider))
            else:
                stripped.setdefault(_key(name), (category, provider))
    return exact, stripped


def _variants(text: str) -> list[str]:
    out = [_key(text)]
    paren = re.findall(r"\(([^)]{2,12})\)", text)
    out.extend(_key(p) for p in paren)
    words = [
        t for t in tokens(re.sub(r"\(.*?\)", " ", text)) if t not in ("amazon", "aws", "microsoft", "azure", "google")
    ]
    if len(words) >= 2:
        out.append("".join(w[0] for w in words if w not in ("for", "and", "of", "with")))
        out.append("".join(words))
    return [v for v in out if len(v) >= 2]


def service_category(text: str, allowed: set[str]) -> Candidate | None:
    exact, stripped = crosswalk()
    key = compact(text)
    hit = exact.get(key)
    if hit and hit[0] in allowed:
        return Candidate(hit[0], CROSSWALK, "code_list", f"FOCUS crosswalk ({hit[1]})")
    for v in _variants(text):
        hit = stripped.get(v)
        if hit and hit[0] in allowed:
            return Candidate(hit[0], LINKED, "code_list", f"FOCUS crosswalk ({hit[1]}, linked by name)")
    return None
