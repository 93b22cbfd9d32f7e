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

from ..normalize import compact, fold, tokens
from . import Candidate

# CLDR locales whose country and currency names are indexed.
LOCALES = ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "nb", "fi", "pl")
# Country names are also indexed in these (other scripts, other alphabets).
COUNTRY_LOCALES = LOCALES + ("cs", "hu", "ro", "tr", "el", "ru", "uk", "ar", "he", "hi", "ja", "ko", "zh", "zh_Hant")

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

        for loc in COUNTRY_LOCALES:
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
        from babel.numbers import get_currency_name

        for c in pycountry.currencies:  # plural names: "British pounds", "Swiss francs", "euros"
            index.setdefault(compact(get_currency_name(c.alpha_3, count=2, locale="en")), c.alpha_3)
    except ImportError:  # pragma: no cover
        pass
    return index


# Locales whose currency symbols are indexed: the name locales plus those whose "$", "¥" or "kr"
# mean another currency than in English (a symbol two currencies share is ambiguous: a review).
SYMBOL_LOCALES = LOCALES + (
    "ja", "zh", "zh_Hant", "ko", "en_CA", "en_AU", "en_NZ", "en_SG", "en_HK", "en_IN", "fr_CA", "fr_CH",
    "de_CH", "pt_BR", "es_MX", "es_AR", "ru", "tr", "he", "hi",
)  # fmt: skip
# The most traded currencies (BIS Triennial Survey order): which currency an ambiguous symbol or
# name ("$", "pounds") is proposed as, for a human to confirm.
MOST_TRADED = ("USD", "EUR", "JPY", "GBP", "CNY", "AUD", "CAD", "CHF", "HKD", "SGD", "SEK", "KRW", "NOK", "NZD",
               "INR", "MXN", "TWD", "ZAR", "BRL", "DKK", "PLN")  # fmt: skip
CURRENCY_ALIASES = {"rmb": "CNY", "renminbi": "CNY", "quid": "GBP", "sterling": "GBP", "bucks": "USD"}


def _by_trade(codes) -> list[str]:
    return sorted(codes, key=lambda c: (MOST_TRADED.index(c) if c in MOST_TRADED else len(MOST_TRADED), c))


@lru_cache(maxsize=1)
def symbol_index() -> dict[str, set[str]]:
    """symbol (case-folded, no spaces) -> the currencies it stands for in some indexed locale (CLDR via
    babel), plus the explicit symbols above."""
    index: dict[str, set[str]] = defaultdict(set)
    for sym, code in CURRENCY_SYMBOLS.items():
        index[sym].add(code)
    try:
        from babel import Locale

        current = {c.alpha_3 for c in pycountry.currencies}
        for loc in SYMBOL_LOCALES:
            for code, sym in Locale.parse(loc).currency_symbols.items():
                key = "".join(sym.split()).casefold()
                if code not in current or not key or key == code.casefold():
                    continue
                if key.isascii() and key.isalpha():
                    continue  # ASCII letters only ("kr", "Rs"): a word or a code, not a symbol
                index[key].add(code)
    except ImportError:  # pragma: no cover
        pass
    for sym, code in AMBIGUOUS_SYMBOLS.items():
        index[sym].add(code)
    return dict(index)


@lru_cache(maxsize=1)
def currency_nouns() -> dict[str, set[str]]:
    """The head noun of each currency's English name ("yen", "pound", "franc") -> the currencies so named."""
    nouns: dict[str, set[str]] = defaultdict(set)
    try:
        from babel.numbers import get_currency_name
    except ImportError:  # pragma: no cover
        get_currency_name = None
    for c in pycountry.currencies:
        names = [c.name]
        if get_currency_name is not None:
            names += [get_currency_name(c.alpha_3, count=n, locale="en") for n in (1, 2)]
        for name in names:
            toks = tokens(name)
            if toks and toks[-1] not in ("unit", "fund", "code"):
                nouns[toks[-1]].add(c.alpha_3)
    return dict(nouns)


def currency(text: str) -> Candidate | None:
    stripped = text.strip()
    low = "".join(stripped.split()).casefold()
    if len(low) == 3 and low.isascii() and low.isalpha() and low not in CURRENCY_SYMBOLS:
        # An ISO code: no indexed symbol is three ASCII letters (symbol_index leaves those out), so the
        # symbol index (CLDR data of 40 locales, ~0.3 s to load) is not needed to say so.
        cur = pycountry.currencies.get(alpha_3=low.upper())
        if cur:
            return Candidate(cur.alpha_3, CODE, "code_list", "ISO 4217")
    symbols = symbol_index()
    if low in symbols:
        found = _by_trade(symbols[low])
        if len(found) == 1:
            return Candidate(found[0], 0.93, "code_list", "currency symbol")
        return Candidate(found[0], 0.6, "code_list", f"currency symbol of {', '.join(found[:4])}")
    key = compact(stripped)
    if len(key) == 3 and key.isalpha():
        cur = pycountry.currencies.get(alpha_3=key.upper())
        if cur:
            return Candidate(cur.alpha_3, CODE, "code_list", "ISO 4217")
    index = currency_index()
    if key in index:
        return Candidate(index[key], NAME, "code_list", "currency name (ISO / CLDR)")
    if key in CURRENCY_ALIASES:
        return Candidate(CURRENCY_ALIASES[key], NAME, "code_list", "common name of the currency")
    toks = tokens(stripped)
    if len(toks) == 1 and toks[0] in currency_nouns():
        found = _by_trade(currency_nouns()[toks[0]])
        if len(found) == 1:
            return Candidate(found[0], 0.9, "code_list", "the name of one currency")
        return Candidate(found[0], 0.6, "code_list", f"names {len(found)} currencies")
    return _fuzzy(key, index, "currency name")


# --- subdivisions -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def subdivision_index() -> tuple[dict[str, list[str]], dict[str, list[str]], set[str]]:
    """(suffix code -> [full codes], compact name -> [full codes], full codes)."""
    by_suffix: dict[str, list[str]] = defaultdict(list)
    by_name: dict[str, list[str]] = defaultdict(list)
    full: set[str] = set()
    translations = _subdivision_translations()
    for s in pycountry.subdivisions:
        full.add(s.code)
        by_suffix[s.code.split("-", 1)[1].lower()].append(s.code)
        for name in {s.name, *(t.gettext(s.name) for t in translations)}:
            key = compact(name)
            if key and s.code not in by_name[key]:
                by_name[key].append(s.code)
    return by_suffix, by_name, full


# Languages whose names of subdivisions (iso-codes translations shipped with pycountry) are indexed
# beside the ISO (local) names: "Bavaria" and "Bavière" as well as "Bayern".
SUBDIVISION_LOCALES = ("en", "fr", "it", "es", "pt", "nl", "de", "pl", "sv", "da", "nb", "fi", "cs", "ja", "zh_CN")


def _subdivision_translations() -> list:
    import gettext

    out = []
    for lang in SUBDIVISION_LOCALES:
        try:
            out.append(gettext.translation("iso3166-2", pycountry.LOCALES_DIR, languages=[lang]))
        except OSError:
            continue
    return out


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
