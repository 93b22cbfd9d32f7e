"""Text normalization shared by the value evidence: tokens, a compact key, placeholders.

`tokens("Closed_Won")` → ("closed", "won"); camelCase and digits are split (`SavingsPlanCoveredUsage`
→ savings plan covered usage), accents folded, punctuation dropped, plurals reduced to a light stem.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MAX_TEXT = 200  # longer labels are data, not picklist values: only their head is looked at

PLACEHOLDERS = frozenset(
    {"", "na", "n a", "none", "null", "nil", "unknown", "not available", "not applicable", "undefined", "tbd", "nan"}
)
_DASHES = frozenset({"-", "--", "---", "—", "–", "?", ".", "/", "n/a", "#n/a"})

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower case without accents (São Paulo → sao paulo; ß → ss)."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def stem(token: str) -> str:
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


@lru_cache(maxsize=65536)
def tokens(text: str) -> tuple[str, ...]:
    """Normalized word tokens of a label (camelCase, snake_case, punctuation and accents undone)."""
    text = text[:MAX_TEXT].replace("\x00", " ")
    text = _CAMEL.sub(" ", text)
    text = text.replace("&", " and ")
    return tuple(stem(t) for t in _NON_WORD.split(fold(text)) if t)


def compact(text: str) -> str:
    """Letters and digits only, lower case, accents folded: 'U.S.' → 'us', 'Best Case' → 'bestcase'."""
    return _NON_WORD.sub("", fold(text[:MAX_TEXT]))


def is_placeholder(raw) -> bool:
    """Empty, whitespace-only or a stand-in for 'no value' (N/A, -, none, null, unknown)."""
    if raw is None:
        return True
    if not isinstance(raw, str):
        return False
    text = raw.strip()
    if text.lower() in _DASHES:
        return True
    return " ".join(_NON_WORD.split(fold(text))).strip() in PLACEHOLDERS
