"""Lexical evidence: the value's words against the words that name each canonical value.

The phrase lists live in `aam/values/data/lexicon.json` (generic words per value-set field, e.g.
"seminar", "trade show" → event). A value is matched on token sequences (so `TRADE_SHOW`,
`Trade Show` and `tradeShow` agree), the longest and most covering phrase wins, a phrase that is
the whole value is near certain, and a competing phrase of the same length makes it a review.
With no phrase, a close spelling (rapidfuzz) proposes the nearest name: typos are reviewed unless
the match is very close and unambiguous.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rapidfuzz import fuzz, process

from ..normalize import compact, tokens
from . import Candidate

LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "lexicon.json"

EXACT = 0.97  # the whole value is a name of the canonical value
SOLE = 0.9  # one canonical value named, covering most of the value
PARTIAL = 0.87  # one canonical value named, among other words
DOMINANT = 0.86  # several named, one by a longer phrase
CONTESTED = 0.7  # several named by phrases of the same length: a human decides
WEAK = 0.72  # only a generic word
FUZZY_AUTO = 0.86
FUZZY_REVIEW = 0.7

# Words that carry no meaning for the match (vendor prefixes, joiners).
STOP = frozenset(
    {
        "amazon",
        "aws",
        "azure",
        "microsoft",
        "google",
        "gcp",
        "and",
        "of",
        "the",
        "for",
        "a",
        "an",
        "with",
        "to",
        "in",
        "on",
        "by",
    }
)


@dataclass(frozen=True)
class Phrase:
    toks: tuple[str, ...]
    prefix: bool  # the last token matches as a prefix
    canonical: object
    weak: bool = False


class Lexicon:
    """Phrases of one value set, indexed by their first token."""

    def __init__(self, phrases: list[Phrase], names: dict[str, object]):
        self.by_first: dict[str, list[Phrase]] = {}
        self.prefixed: list[Phrase] = []
        for p in phrases:
            if p.prefix and len(p.toks) == 1:
                self.prefixed.append(p)
            else:
                self.by_first.setdefault(p.toks[0], []).append(p)
        self.names = names  # compact name -> canonical, for the fuzzy step
        self._choices = list(names)

    def spans(self, toks: tuple[str, ...]) -> list[tuple[int, int, Phrase]]:
        found = []
        for i, t in enumerate(toks):
            for p in self.by_first.get(t, ()):
                n = len(p.toks)
                if i + n > len(toks):
                    continue
                ok = all(toks[i + k] == p.toks[k] for k in range(n - 1))
                last = toks[i + n - 1]
                if ok and (last == p.toks[-1] or (p.prefix and last.startswith(p.toks[-1]))):
                    found.append((i, i + n, p))
            for p in self.prefixed:
                if t.startswith(p.toks[0]):
                    found.append((i, i + 1, p))
        return found

    def fuzzy(self, text: str) -> tuple[object, float, float] | None:
        """(canonical, best score, margin to the best other canonical) by spelling, or None."""
        key = compact(text)
        if len(key) < 4 or not self._choices:
            return None
        hits = process.extract(key, self._choices, scorer=fuzz.ratio, limit=8)
        if not hits:
            return None
        best_name, best, _ = hits[0]
        canonical = self.names[best_name]
        other = max((s for n, s, _ in hits[1:] if self.names[n] != canonical), default=0.0)
        return canonical, best, best - other


def _phrase(text: str, canonical, weak=False) -> Phrase | None:
    prefix = text.endswith("*")
    toks = tokens(text.rstrip("*"))
    if not toks:
        return None
    return Phrase(toks, prefix, canonical, weak)


@lru_cache(maxsize=64)
def lexicon_for(key: str, values: tuple) -> Lexicon:
    """The lexicon of value set `key` (entity.field) with canonical `values` (names are phrases too)."""
    data = _data()
    field = key.split(".", 1)[-1]
    entry = data.get(key) or data.get(field) or {}
    phrases: list[Phrase] = []
    names: dict[str, object] = {}
    allowed = set(values)
    for v in values:
        for text in {str(v), str(v).replace("_", " ")}:
            p = _phrase(text, v)
            if p:
                phrases.append(p)
        names[compact(str(v))] = v
    for canonical, words in entry.items():
        if canonical == "_weak":
            for word, target in words.items():
                if target in allowed:
                    p = _phrase(word, target, weak=True)
                    if p:
                        phrases.append(p)
            continue
        if canonical not in allowed:
            continue
        for w in words:
            p = _phrase(w, canonical)
            if p:
                phrases.append(p)
                if not p.prefix and len(compact(w)) >= 4:
                    names.setdefault(compact(w), canonical)
    return Lexicon(phrases, names)


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(LEXICON_PATH.read_text(encoding="utf-8"))


def lexical_match(text: str, lex: Lexicon, *, fuzzy: bool = True) -> Candidate | None:
    """The canonical value the words of `text` name, with a confidence, or None."""
    toks = tokens(text)
    if not toks:
        return None
    spans = lex.spans(toks)
    meaningful = [i for i, t in enumerate(toks) if t not in STOP]
    n_meaningful = max(1, len(meaningful))
    if spans:
        strong = [s for s in spans if not s[2].weak] or spans
        weak_only = all(s[2].weak for s in strong)
        # a span inside a longer span of another value does not count (computer game ≠ computer)
        kept = [
            s
            for s in strong
            if not any(
                o[0] <= s[0] and s[1] <= o[1] and (o[1] - o[0]) > (s[1] - s[0])
                for o in strong
                if o[2].canonical != s[2].canonical
            )
        ]
        by_value: dict[object, tuple[int, set[int]]] = {}
        for start, end, p in kept:
            longest, covered = by_value.get(p.canonical, (0, set()))
            by_value[p.canonical] = (max(longest, end - start), covered | set(range(start, end)))
        ranked = sorted(by_value.items(), key=lambda kv: (kv[1][0], len(kv[1][1])), reverse=True)
        best, (longest, covered) = ranked[0]
        coverage = len(covered & set(meaningful)) / n_meaningful if meaningful else 1.0
        whole = coverage >= 1.0 and len(ranked) == 1
        if weak_only:
            return Candidate(best, WEAK, "lexical", "generic word only")
        if len(ranked) == 1:
            conf = EXACT if whole else (SOLE if coverage >= 0.5 else PARTIAL)
            return Candidate(best, conf, "lexical", "named by " + " ".join(sorted({toks[i] for i in covered})))
        second_longest = ranked[1][1][0]
        if longest > second_longest:
            return Candidate(best, DOMINANT, "lexical", f"longest phrase; also names {ranked[1][0]}")
        return Candidate(best, CONTESTED, "lexical", f"also names {ranked[1][0]}")
    if not fuzzy:
        return None
    hit = lex.fuzzy(text)
    if hit is None:
        return None
    canonical, score, margin = hit
    if score >= 92 and margin >= 6:
        return Candidate(canonical, FUZZY_AUTO, "lexical", f"close spelling ({score:.0f})")
    if score >= 84:
        return Candidate(canonical, FUZZY_REVIEW, "lexical", f"similar spelling ({score:.0f})")
    return None
