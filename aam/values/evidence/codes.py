"""Standard code lists: ISO 3166-1 countries, ISO 3166-2 subdivisions, ISO 4217 currencies.

Names come from pycountry (ISO names, common and official names, subdivision names) and babel's
CLDR data (country and currency names in several languages: "Deutschland", "Allemagne",
"Alemania", "Pfund Sterling"). The indexes are built once per process.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache

import pycountry
from rapidfuzz import fuzz, process

from ..normalize import compact, fold
from . import Candidate

# CLDR locales whose country and currency names are indexed.
LOCALES = ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "nb", "fi", "pl")

# Common English short forms not in ISO or CLDR (ISO 3166 reserves UK for the United Kingdom).
COUNTRY_ALIASES = {
    "usa": "US",
    "us": "US",
    "unitedstatesofamerica": "US",
    "america": "US",
    "theunitedstates": "US",
    "uk": "GB",
    "greatbritain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northernireland": "GB",
    "unitedkingdomofgreatbritainandnorthernireland": "GB",
    "holland": "NL",
    "southkorea": "KR",
    "korea": "KR",
    "republicofkorea": "KR",
    "northkorea": "KP",
    "russia": "RU",
    "czechrepublic": "CZ",
    "czechia": "CZ",
    "ivorycoast": "CI",
    "uae": "AE",
    "vietnam": "VN",
    "laos": "LA",
    "iran": "IR",
    "syria": "SY",
    "taiwan": "TW",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "moldova": "MD",
    "macedonia": "MK",
    "burma": "MM",
    "prc": "CN",
    "mainlandchina": "CN",
    "hongkongsar": "HK",
    "macau": "MO",
    "vatican": "VA",
    "turkey": "TR",
    "turkiye": "TR",
    "swaziland": "SZ",
    "capeverde": "CV",
    "eastimor": "TL",
}
CURRENCY_SYMBOLS = {
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₪": "ILS",
    "us$": "USD",
    "usd$": "USD",
    "c$": "CAD",
    "ca$": "CAD",
    "a$": "AUD",
    "au$": "AUD",
    "nz$": "NZD",
    "r$": "BRL",
    "chf": "CHF",
    "sfr": "CHF",
    "hk$": "HKD",
    "s$": "SGD",
    "mx$": "MXN",
}
AMBIGUOUS_SYMBOLS = {"$": "USD", "kr": "SEK"}

NAME = 0.96
CODE = 0.98
FUZZY_AUTO = 0.86
FUZZY_REVIEW = 0.7


def _strip_article(key: str) -> str:
    for art in ("the", "republicof"):
        if key.startswith(art) and len(key) > len(art) + 3:
            return key[len(art) :]
    return key


@lru_cache(maxsize=1)
def country_index() -> dict[str, str]:
    """compact name or code -> alpha-2, every language in LOCALES."""
    index: dict[str, str] = {}
    for c in pycountry.countries:
        for n in (c.name, getattr(c, "common_name", None), getattr(c, "official_name", None)):
            if n:
                index.setdefault(compact(n), c.alpha_2)
                # "Korea, Republic of" -> "Republic of Korea"; "Bolivia, Plurinational State of" -> "Bolivia"
                if "," in n:
                    head, _, tail = n.partition(",")
                    index.setdefault(compact(f"{tail} {head}"), c.alpha_2)
                    index.setdefault(compact(head), c.alpha_2)
    try:
        from babel import Locale

        for loc in LOCALES:
            for code, name in Locale.parse(loc).territories.items():
                if len(code) == 2 and code.isalpha() and pycountry.countries.get(alpha_2=code):
                    index.setdefault(compact(name), code)
                    short = re.sub(r"\s*\(.*?\)|\s+SAR.*$", "", name)
                    index.setdefault(compact(short), code)
    except ImportError:  # pragma: no cover - babel is a pinned dependency
        pass
    for alias, code in COUNTRY_ALIASES.items():
        index.setdefault(alias, code)
    return index


@lru_cache(maxsize=1)
def _country_codes() -> tuple[dict[str, str], dict[str, str]]:
    a2 = {c.alpha_2.lower(): c.alpha_2 for c in pycountry.countries}
    a3 = {c.alpha_3.lower(): c.alpha_2 for c in pycountry.countries}
    return a2, a3


def country(text: str) -> Candidate | None:
    key = compact(text)
    if not key:
        return None
    a2, a3 = _country_codes()
    if key in ("uk",):
        return Candidate("GB", CODE, "code_list", "ISO 3166-1 reserves UK for the United Kingdom")
    stripped = text.strip()
    if len(key) == 2 and key in a2 and len(stripped.replace(".", "")) == 2:
        return Candidate(a2[key], CODE, "code_list", "ISO 3166-1 alpha-2")
    if len(key) == 3 and key in a3 and len(stripped.replace(".", "")) == 3:
        return Candidate(a3[key], CODE, "code_list", "ISO 3166-1 alpha-3")
    index = country_index()
    for k in (key, _strip_article(key)):
        if k in index:
            return Candidate(index[k], NAME, "code_list", "country name (ISO / CLDR)")
    return _fuzzy(key, index, "country name")


def _fuzzy(key: str, index: dict[str, str], what: str) -> Candidate | None:
    if len(key) < 5:
        return None
    hits = process.extract(key, list(index), scorer=fuzz.ratio, limit=6)
    if not hits:
        return None
    best_name, best, _ = hits[0]
    code = index[best_name]
    other = max((s for n, s, _ in hits[1:] if index[n] != code), default=0.0)
    if best >= 90 and best - other >= 8:
        return Candidate(code, FUZZY_AUTO, "code_list", f"close spelling of a {what} ({best:.0f})")
    if best >= 80:
        return Candidate(code, FUZZY_REVIEW, "code_list", f"similar to a {what} ({best:.0f})")
    return None


# --- currencies -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def currency_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for c in pycountry.currencies:
        index.setdefault(compact(c.name), c.alpha_3)
    try:
        from babel import Locale

        for loc in LOCALES:
            for code, name in Locale.parse(loc).currencies.items():
                if pycountry.currencies.get(alpha_3=code):
                    index.setdefault(compact(name), code)
    except ImportError:  # pragma: no cover
        pass
    return index


def currency(text: str) -> Candidate | None:
    stripped = text.strip()
    low = stripped.lower()
    if low in CURRENCY_SYMBOLS:
        return Candidate(CURRENCY_SYMBOLS[low], 0.93, "code_list", "currency symbol")
    if low in AMBIGUOUS_SYMBOLS:
        return Candidate(AMBIGUOUS_SYMBOLS[low], 0.6, "code_list", "ambiguous currency symbol")
    key = compact(stripped)
    if len(key) == 3 and key.isalpha():
        cur = pycountry.currencies.get(alpha_3=key.upper())
        if cur:
            return Candidate(cur.alpha_3, CODE, "code_list", "ISO 4217")
    index = currency_index()
    if key in index:
        return Candidate(index[key], NAME, "code_list", "currency name (ISO / CLDR)")
    return _fuzzy(key, index, "currency name")


# --- subdivisions -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def subdivision_index() -> tuple[dict[str, list[str]], dict[str, list[str]], set[str]]:
    """(suffix code -> [full codes], compact name -> [full codes], full codes)."""
    by_suffix: dict[str, list[str]] = defaultdict(list)
    by_name: dict[str, list[str]] = defaultdict(list)
    full: set[str] = set()
    for s in pycountry.subdivisions:
        full.add(s.code)
        by_suffix[s.code.split("-", 1)[1].lower()].append(s.code)
        by_name[compact(s.name)].append(s.code)
        # "Bayern" also as "Bavaria"? Local names only: pycountry carries the ISO names.
    return by_suffix, by_name, full


def subdivision_candidates(text: str) -> tuple[list[str], str]:
    """The full codes `text` may stand for, and how ('code', 'name', 'full')."""
    by_suffix, by_name, full = subdivision_index()
    stripped = text.strip()
    up = stripped.upper().replace(" ", "").replace("_", "-")
    if up in full:
        return [up], "full"
    key = compact(stripped)
    if key in by_name:
        return list(by_name[key]), "name"
    if 1 <= len(key) <= 3 and key.isalnum() and key in by_suffix:
        return list(by_suffix[key]), "code"
    return [], ""


def subdivisions(texts: list[str]) -> dict[str, Candidate | None]:
    """Decide a whole column at once: a bare code (CA, WA, ON) is read in the country the column's
    names and codes point to (US-CA in a column of US states, CA-ON beside Quebec and Alberta)."""
    found = {t: subdivision_candidates(t) for t in texts}
    support: dict[str, float] = defaultdict(float)
    for codes, how in found.values():
        countries = {c.split("-")[0] for c in codes}
        for cc in countries:
            support[cc] += (1.0 if how in ("name", "full") else 0.5) / len(countries)
    out: dict[str, Candidate | None] = {}
    for t, (codes, how) in found.items():
        if not codes:
            out[t] = _fuzzy_subdivision(t)
            continue
        ranked = sorted(codes, key=lambda c: support[c.split("-")[0]], reverse=True)
        best = ranked[0]
        s_best = support[best.split("-")[0]]
        s_next = support[ranked[1].split("-")[0]] if len(ranked) > 1 else 0.0
        if len(ranked) == 1:
            conf = CODE if how == "full" else (NAME if how == "name" else 0.9)
        elif s_best >= 2 * max(s_next, 0.5) and s_best >= 2:
            conf = 0.9  # the column's country settles it
        else:
            conf = 0.6
        out[t] = Candidate(best, conf, "code_list", f"ISO 3166-2 ({how})")
    return out


def _fuzzy_subdivision(text: str) -> Candidate | None:
    _, by_name, _ = subdivision_index()
    key = compact(text)
    if len(key) < 5:
        return None
    hits = process.extract(key, list(by_name), scorer=fuzz.ratio, limit=3)
    if hits and hits[0][1] >= 88 and len(by_name[hits[0][0]]) == 1:
        return Candidate(
            by_name[hits[0][0]][0], FUZZY_REVIEW, "code_list", f"similar to a subdivision name ({hits[0][1]:.0f})"
        )
    return None


def fold_upper(text: str) -> str:
    return fold(text).upper()
