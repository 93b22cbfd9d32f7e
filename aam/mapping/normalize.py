"""Field-name normalization: from a vendor's column name to canonical tokens.

`parse_name("lineItem/UsageAccountId")` → tokens `("usage", "account", "id")`, context `("line", "item")`.
It understands camelCase / PascalCase / snake_case / kebab-case / spaces, run-together lowercase names
(`numberofemployees`, Dynamics and HubSpot style, split by a dictionary), vendor decorations (`__c`
custom fields, `hs_` prefixes, Dynamics `_x_value` lookups, CUR `category/Name` headers,
`resourceTags/user:` tag columns, dotted JSON paths), human headers (`# of Employees`, `Annual Rev ($)`),
abbreviations (`amt`, `qty`, `addr`...), plural forms and small typos.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

VOCABULARY_PATH = Path(__file__).resolve().parent / "vocabulary.json"
REFERENCE_PATH = Path(__file__).resolve().parent / "reference_values.json"

_SUFFIX_RE = re.compile(
    r"^(?:[A-Za-z][A-Za-z0-9]*__)?(?P<name>[A-Za-z0-9_]+?)__(?:c|r|pc|x|mdt|e|s|kav|b|latitude__s|longitude__s)$"
)
_LOOKUP_RE = re.compile(r"^_(?P<name>[A-Za-z0-9_]+?)_value$")
_PAREN_RE = re.compile(r"[(\[{]([^)\]}]*)[)\]}]")
_TOKEN_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_CURRENCY_SYMBOLS = "$€£¥₹"
# currency codes that are also English words in headers (`ALL Costs`, `TOP Accounts`, `TRY Count`)
_WORDLIKE_CODES = frozenset({"ALL", "TOP", "CUP", "MOP", "PEN", "BOB", "SOS", "TRY", "GEL"})


_LIGATURES = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L"}
)


@lru_cache(maxsize=16384)
def fold(text: str) -> str:
    """Accents and ligatures folded to ASCII (`Straße` → `Strasse`, `Téléphone` → `Telephone`), so a
    header in another European language splits into words instead of at every non-ASCII letter."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _plural_stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "os", "as")):
        return word[:-1]
    return word


@dataclass(frozen=True)
class NameParts:
    """A column name taken apart.

    tokens: canonical core tokens (what the name says); context: tokens of a category prefix or a
    parent path (they may match, they never count against a match); flags: decorations that change
    the meaning (custom, lookup, secondary, primary, system, tag, nested, money, percent, count).
    """

    raw: str
    tokens: tuple[str, ...]
    context: tuple[str, ...]
    flags: frozenset[str]
    digits: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Tokens and numbers (`address1_line2` → `address line 1 2`): what the memory compares."""
        return " ".join(self.tokens + self.digits)

    @property
    def compact(self) -> str:
        """The raw name reduced to lowercase letters and digits (`Billing_City` → `billingcity`)."""
        return re.sub(r"[^a-z0-9]", "", self.raw.lower())


class Lexicon:
    """The engine's word knowledge: vocabulary.json plus every word of the ontology."""

    def __init__(self, vocabulary: dict, ontology_words: set[str], currencies: frozenset[str] | None = None):
        self.abbreviations: dict[str, list[str]] = {k: v.split() for k, v in vocabulary["abbreviations"].items()}
        self.equivalents: dict[str, str] = dict(vocabulary["equivalents"])
        self.stopwords = frozenset(vocabulary["stopwords"])
        surface = set(vocabulary["words"].split()) | ontology_words
        surface |= set(self.equivalents) | set(self.stopwords)
        for expansion in self.abbreviations.values():
            surface.update(expansion)
        self.surface_words = frozenset(w for w in surface if w.isalpha())
        self.max_word = max(len(w) for w in self.surface_words)
        self.generic = {self.canon(k): float(v) for k, v in vocabulary["generic"].items()}
        self.temporal = frozenset(self.canon(w) for w in vocabulary["temporal"])
        self.identifier_tokens = frozenset(self.canon(w) for w in vocabulary["identifier_tokens"])
        self.boolean_tokens = frozenset(self.canon(w) for w in vocabulary["boolean_tokens"])
        self.code_tokens = frozenset(self.canon(w) for w in vocabulary["code_tokens"])
        self.primary = frozenset(self.canon(w) for w in vocabulary["qualifiers_primary"])
        self.secondary = frozenset(self.canon(w) for w in vocabulary["qualifiers_secondary"])
        self.negative = frozenset(self.canon(w) for w in vocabulary["negative"])
        self.count_markers = frozenset(self.canon(w) for w in vocabulary["count_markers"])
        self.context_prefix = frozenset(self.canon(w) for w in vocabulary["context_prefix_tokens"])
        self.leaf_generic = frozenset(self.canon(w) for w in vocabulary["leaf_generic"])
        self.reference_aliases = {
            self.canon(k): frozenset(self.canon(a) for a in v) for k, v in vocabulary["reference_aliases"].items()
        }
        self.vendor_prefix_re = re.compile("^(?:" + "|".join(vocabulary["vendor_prefixes"]) + ")", re.I)
        self.system_res = [re.compile(p, re.I) for p in vocabulary["system_patterns"]]
        self.known = frozenset(self.canon(w) for w in self.surface_words)
        self.currencies = frozenset(currencies or ())
        by_initial: dict[str, list[str]] = {}
        for w in self.surface_words:
            if len(w) >= 4:
                by_initial.setdefault(w[0], []).append(w)
        self._by_initial = by_initial

    # -- single words ------------------------------------------------------------------------
    def canon(self, word: str) -> str:
        """Equivalence class then plural stem: `telephones` → `phone`, `companies` → `company`."""
        word = self.equivalents.get(word, word)
        stem = _plural_stem(word)
        return self.equivalents.get(stem, stem)

    def segment(self, word: str) -> list[str] | None:
        """Split a run-together lowercase word (`numberofemployees`) into dictionary words, or None."""
        n = len(word)
        best: list[tuple[float, int] | None] = [None] * (n + 1)
        best[0] = (0.0, 0)
        for i in range(1, n + 1):
            for j in range(max(0, i - self.max_word), i):
                if best[j] is None:
                    continue
                piece = word[j:i]
                if piece in self.surface_words and (len(piece) > 1 or piece in ("a",)):
                    cost = 1.0 - 0.02 * len(piece)
                elif piece.isdigit():
                    cost = 0.5
                elif len(piece) >= 4:
                    cost = 2.6 + 0.05 * len(piece)  # an unknown stretch: allowed, but expensive
                else:
                    continue
                total = best[j][0] + cost
                if best[i] is None or total < best[i][0]:
                    best[i] = (total, j)
        if best[n] is None:
            return None
        pieces, i = [], n
        while i > 0:
            j = best[i][1]
            pieces.append(word[j:i])
            i = j
        pieces.reverse()
        if len(pieces) < 2:
            return None
        unknown = sum(len(p) for p in pieces if p not in self.surface_words and not p.isdigit())
        if unknown > 0.4 * n or not any(len(p) >= 4 and p in self.surface_words for p in pieces):
            return None
        return pieces

    def correct(self, word: str) -> str:
        """A likely dictionary word for a small typo (`adress` → `address`), else the word itself."""
        if len(word) < 5 or not word.isalpha():
            return word
        candidates = [w for w in self._by_initial.get(word[0], ()) if abs(len(w) - len(word)) <= 2]
        match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.86)
        return match[0] if match else word

    @lru_cache(maxsize=8192)  # noqa: B019 - the lexicon lives for the whole process
    def expand(self, word: str) -> tuple[str, ...]:
        """One lowercase word → canonical tokens (abbreviations, run-together words, typos, plurals)."""
        if word.isdigit():
            return (word,)
        if word in self.abbreviations:
            return tuple(self.canon(w) for w in self.abbreviations[word])
        if word in self.surface_words or self.canon(word) in self.known:
            return (self.canon(word),)
        if len(word) >= 5:
            pieces = self.segment(word)
            if pieces:
                out: list[str] = []
                for p in pieces:
                    out.extend(self.abbreviations.get(p, [p]))
                return tuple(self.canon(p) for p in out)
        corrected = self.correct(word)
        return (self.canon(corrected),)

    # -- whole names ---------------------------------------------------------------------------
    def words_of(self, text: str) -> list[str]:
        """Split on case changes, digits and any separator; keep short alnum codes like `ec2` whole."""
        out: list[str] = []
        for chunk in re.split(r"[^A-Za-z0-9]+", fold(text)):
            if not chunk:
                continue
            parts = _TOKEN_RE.findall(chunk)
            merged: list[str] = []
            for part in parts:
                # `ec2`, `s3`, `utf8`: a short letter stem glued to digits is one code, not word + number
                if (
                    part.isdigit()
                    and merged
                    and len(merged[-1]) <= 3
                    and merged[-1].isalpha()
                    and chunk.find(merged[-1] + part) >= 0
                ):
                    merged[-1] = merged[-1] + part
                else:
                    merged.append(part)
            out.extend(p.lower() for p in merged)
        return out

    def tokens_of(self, text: str) -> list[str]:
        """Canonical tokens of a plain phrase (used for ontology synonyms and for name parts)."""
        tokens: list[str] = []
        words = self.words_of(text)
        # `e mail` / `e-mail` is one word
        i = 0
        while i < len(words):
            w = words[i]
            if w == "e" and i + 1 < len(words) and words[i + 1] in ("mail", "mails"):
                tokens.append("email")
                i += 2
                continue
            tokens.extend(self.expand(w))
            i += 1
        return [t for t in tokens if t not in self.stopwords]

    def _currency_words(self, text: str, *, anycase: bool = False) -> list[str]:
        """ISO 4217 codes written as separate words of a header (`EUR`, and in parentheses `eur` too)."""
        words = re.findall(r"[A-Za-z]+", fold(text))
        if not anycase and (len(words) < 2 or all(w.isupper() for w in words)):
            return []
        found = []
        for w in words:
            if len(w) == 3 and (w.isupper() or anycase) and w.upper() in self.currencies - _WORDLIKE_CODES:
                found.append(w)
        return found if len(found) < len(words) or anycase else []

    def is_system(self, raw: str) -> bool:
        return any(r.search(raw) for r in self.system_res)

    @lru_cache(maxsize=16384)  # noqa: B019
    def parse(self, raw: str) -> NameParts:
        name = raw.strip()
        flags: set[str] = set()
        context: list[str] = []
        if self.is_system(name):
            flags.add("system")

        match = _SUFFIX_RE.match(name)
        if match:
            flags.add("custom")
            name = match.group("name")
        match = _LOOKUP_RE.match(name)
        if match:
            flags.add("lookup")
            name = match.group("name")

        if "/" in name and not re.search(r"\s", name):  # CUR `category/Name`; `resourceTags/user:Env` is one tag
            head, _, tail = name.partition("/")
            if head.lower() in ("resourcetags", "tags", "tag", "labels") or tail.lower().startswith(("user:", "aws:")):
                flags.add("tag")
            context.extend(self.tokens_of(head))
            name = tail or head
        if ":" in name and not name.endswith(":"):
            head, _, tail = name.rpartition(":")
            context.extend(self.tokens_of(head))
            name = tail

        for inner in _PAREN_RE.findall(name):
            if any(s in inner for s in _CURRENCY_SYMBOLS) or self._currency_words(inner, anycase=True):
                flags.add("money")  # `Amount (USD)`, `Revenue (EUR, annual)`: the unit says money
            if "%" in inner:
                flags.add("percent")
            context.extend(self.tokens_of(inner))
        name = _PAREN_RE.sub(" ", name)
        if any(s in name for s in _CURRENCY_SYMBOLS):
            flags.add("money")
        units = self._currency_words(name)
        if units:
            # `Contract Value in EUR`, `Amount USD`: a currency written as a word is the unit, not part
            # of what the column is (an all-caps header like `USAGE_IN_CURRENCY` is not searched)
            flags.add("money")
            context.extend(w.lower() for w in units)
            name = re.sub(r"\b(?:in\s+)?(?:" + "|".join(units) + r")\b", " ", name)
        name = name.replace("#", " number ").replace("%", " percent ").replace("&", " and ")

        segments = [s for s in name.split(".") if s.strip()]
        if len(segments) > 1 and not all(len(s.strip()) <= 3 for s in segments[1:]):
            flags.add("nested")
            last = [segments.pop()]
            # `configuration.state.name`: a generic leaf keeps its parent (`state name`)
            while segments and all(t in self.leaf_generic for t in self.tokens_of(" ".join(last))):
                last.insert(0, segments.pop())
            for seg in segments:
                context.extend(self.tokens_of(seg))
            name = " ".join(last)
        else:
            name = " ".join(segments) if segments else name

        stripped = self.vendor_prefix_re.sub("", name, count=1)
        if stripped and stripped != name and re.search(r"[A-Za-z]", stripped):
            name = stripped

        tokens: list[str] = []
        digits: list[str] = []
        for token in self.tokens_of(name):
            if token.isdigit():
                if len(token) <= 2:
                    flags.add("primary" if token in ("1", "01") else "secondary")
                digits.append(str(int(token)))
                continue
            tokens.append(token)
        if tokens and tokens[0] in self.count_markers and len(tokens) > 1:
            flags.add("count")
        elif tokens and tokens[-1] in self.count_markers - {"number"} and len(tokens) > 1:
            flags.add("count")
        context_tokens = tuple(t for t in dict.fromkeys(context) if t not in tokens and not t.isdigit())
        if not tokens and context_tokens:  # a name made only of a prefix, e.g. `properties.`
            tokens, context_tokens = list(context_tokens), ()
        return NameParts(
            raw=raw, tokens=tuple(tokens), context=context_tokens, flags=frozenset(flags), digits=tuple(digits)
        )


@lru_cache(maxsize=1)
def load_vocabulary() -> dict:
    with open(VOCABULARY_PATH, encoding="utf-8") as fh:
        return json.load(fh)


class _LexiconHolder:
    @cached_property
    def lexicon(self) -> Lexicon:
        from aam.ontology import get_ontology

        words: set[str] = set()
        for entity in get_ontology().entities.values():
            texts = [entity.name, *entity.aliases]
            for f in entity.fields.values():
                texts += [f.name, *f.synonyms, *f.related]
            for text in texts:
                words.update(w for w in re.split(r"[^a-z]+", text.lower()) if len(w) > 1)
        with open(REFERENCE_PATH, encoding="utf-8") as fh:
            currencies = frozenset(json.load(fh)["currencies"].split())
        return Lexicon(load_vocabulary(), words, currencies)


_holder = _LexiconHolder()


def get_lexicon() -> Lexicon:
    return _holder.lexicon


def parse_name(raw: str) -> NameParts:
    return get_lexicon().parse(raw)


def phrase_tokens(text: str) -> tuple[str, ...]:
    return tuple(get_lexicon().tokens_of(text))
