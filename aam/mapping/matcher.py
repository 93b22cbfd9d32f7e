"""Heuristic scoring of a source column against the canonical fields.

score(column, field) = name evidence × type compatibility × value evidence × decorations, where

- name evidence compares the column's canonical tokens with the field's name, synonyms and related
  names: matched weight / (matched + 1.2·unexplained column tokens + 0.8·unexplained field tokens).
  A word that changes the meaning (weighted, expected, actual, deleted, ip...) costs double when it
  is not explained; a qualifier that does not (primary, billing, mailing) costs almost nothing; the
  table's own entity words (`deal` in a deals table) and words implied by the field's type (`date`
  for a datetime field, `id` for a key) are optional.
- type compatibility: a boolean column never becomes a date; a text column hardly an amount.
- value evidence: the share of samples that look like what the field expects (emails for email...),
  and Salesforce key prefixes that say which object an id points to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aam.ontology import CanonicalField, Ontology

from .normalize import Lexicon, NameParts
from .values import ValueProfile, sf_prefix_entity

ALPHA_COLUMN = 1.2
BETA_FIELD = 1.0
NEGATIVE_PENALTY = 2.0
PRIMARY_PENALTY = 0.05
SECONDARY_PENALTY = 0.3
SECONDARY_FACTOR = 0.55
RELATED_STRENGTH = 0.8
SOFT_IMPLIED_PENALTY = 0.2
CONTEXT_PENALTY = 0.03
ALIAS_ONLY_FACTOR = 0.6
IMPLIED_PHRASE_PENALTY = 0.25
CONTEXT_WEIGHT = 0.6
HEAD_MISMATCH_FACTOR = 0.6
REFERENT_PENALTY = 2.0

_KIND_GROUPS = {
    "identifier": {"identifier", "sf_id", "guid", "aws_account_id", "cloud_resource_id", "arn"},
    "number": {"number", "integer", "money"},
    "integer": {"integer"},
    "money": {"money", "number"},
    "textual": {"textual"},
    "datetime": {"datetime", "epoch"},
    "date": {"date", "epoch"},
}

# Kinds recognized from reference lists, which cannot know every provider's codes.
_LISTED_KINDS = frozenset({"cloud_region", "cloud_az", "currency_code"})

# Links that normally differ from record to record.
_PER_RECORD_LINKS = frozenset({"account_id", "contact_id"})
CONSTANT_LINK_FACTOR = 0.8

# Which record an id field points to (for Salesforce key prefixes).
_REFERENCE_TARGETS = {
    "account_id": {"account"},
    "parent_account_id": {"account"},
    "contact_id": {"contact", "lead"},
    "owner_id": {"user", "group"},
}

# field type → column type → compatibility
# fmt: off
_TYPE_COMPAT = {
    "string": {"string": 1.0, "integer": 0.95, "number": 0.85, "boolean": 0.4, "date": 0.5, "datetime": 0.5,
               "json": 0.6},
    "integer": {"integer": 1.0, "number": 0.85, "string": 0.35},
    "decimal": {"number": 1.0, "integer": 1.0, "string": 0.3},
    "number": {"number": 1.0, "integer": 1.0, "string": 0.3},
    "boolean": {"boolean": 1.0, "integer": 0.15, "string": 0.1},
    "date": {"date": 1.0, "datetime": 0.95, "string": 0.25},
    "datetime": {"datetime": 1.0, "date": 0.9, "string": 0.25},
    "json": {"json": 1.0, "string": 0.35},
}
# fmt: on


@dataclass(frozen=True)
class Phrase:
    field: CanonicalField
    tokens: frozenset[str]
    strength: float
    text: str
    order: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    field: str
    score: float
    name_score: float
    type_factor: float
    value_factor: float
    phrase: str
    notes: tuple[str, ...] = ()

    def explain(self) -> str:
        parts = [f"name ~ '{self.phrase}' {self.name_score:.2f}"]
        if self.type_factor < 1.0:
            parts.append(f"type x{self.type_factor:.2f}")
        if abs(self.value_factor - 1.0) > 0.01:
            parts.append(f"values x{self.value_factor:.2f}")
        parts.extend(self.notes)
        return ", ".join(parts)


class FieldIndex:
    """Ontology phrases, tokenized once, with an inverted index per entity."""

    def __init__(self, ontology: Ontology, lexicon: Lexicon):
        self.ontology = ontology
        self.lexicon = lexicon
        self.phrases: dict[str, list[Phrase]] = {}
        self.by_token: dict[str, dict[str, list[int]]] = {}
        self.alias_tokens: dict[str, frozenset[str]] = {}
        self.optional: dict[str, frozenset[str]] = {}
        self.implied: dict[tuple[str, str], frozenset[str]] = {}
        # one-word names of a field (`notes`, `comments`): a second one in `Notes / Comments` or
        # `Industry / Sector` repeats the meaning instead of changing it
        self.single_words: dict[tuple[str, str], frozenset[str]] = {}
        # the words naming what a reference points to (`owner` of owner_id): missing, they change it
        self.referent: dict[tuple[str, str], frozenset[str]] = {}
        self.soft_implied: dict[tuple[str, str], frozenset[str]] = {}
        # `client_id`, `company_id`, `organization_id` all point to an account
        self.reference_alias: dict[str, str] = {}
        for target, aliases in lexicon.reference_aliases.items():
            for alias in aliases:
                self.reference_alias[alias] = target
        field_names: dict[str, set[str]] = {}
        for entity in ontology.entities.values():
            phrases: list[Phrase] = []
            for f in entity.fields.values():
                field_names.setdefault(f.name, set()).add(entity.name)
                # Earlier synonyms are the more usual names: a tiny decay breaks ties deterministically.
                texts = (
                    [(f.name.replace("_", " "), 1.0)]
                    + [(s, max(0.96, 0.998 - 0.003 * i)) for i, s in enumerate(f.synonyms)]
                    + [(r, RELATED_STRENGTH) for r in f.related]
                )
                seen: set[frozenset[str]] = set()
                for text, strength in texts:
                    order = tuple(lexicon.tokens_of(text))
                    tokens = frozenset(order)
                    if tokens and tokens not in seen:
                        seen.add(tokens)
                        phrases.append(Phrase(field=f, tokens=tokens, strength=strength, text=text, order=order))
                self.implied[(entity.name, f.name)] = self._implied_tokens(f)
                self.single_words[(entity.name, f.name)] = frozenset(
                    next(iter(p.tokens))
                    for p in phrases
                    if p.field is f and len(p.tokens) == 1 and p.strength > RELATED_STRENGTH
                )
                self.referent[(entity.name, f.name)] = (
                    frozenset(lexicon.tokens_of(f.name.replace("_", " "))) - lexicon.identifier_tokens
                    if f.is_reference and f.name != "id"
                    else frozenset()
                )
                # `stage_id`, `pipeline_id`: a reference to a code list is nearly the field itself
                soft = (
                    lexicon.identifier_tokens
                    if not f.is_reference and ("option_set" in f.values or "identifier" in f.values)
                    else frozenset()
                )
                self.soft_implied[(entity.name, f.name)] = frozenset(soft)
            index: dict[str, list[int]] = {}
            for i, p in enumerate(phrases):
                for t in p.tokens:
                    index.setdefault(t, []).append(i)
            self.phrases[entity.name] = phrases
            self.by_token[entity.name] = index
            alias_tokens: set[str] = set(lexicon.tokens_of(entity.name.replace("_", " ")))
            for alias in entity.aliases:
                alias_tokens.update(lexicon.tokens_of(alias))
            self.alias_tokens[entity.name] = frozenset(alias_tokens)
            # The table's own entity words are optional in a column name (`deal_currency_code` in a
            # deals table), unless a field of the entity is named with them (`billing_period_start`).
            named: set[str] = set()
            for f in entity.fields.values():
                named.update(lexicon.tokens_of(f.name.replace("_", " ")))
            self.optional[entity.name] = frozenset(alias_tokens - named)
        # How many entities share a field name: a field only one entity has is strong entity evidence.
        self.field_spread = {name: len(ents) for name, ents in field_names.items()}

    def _implied_tokens(self, f: CanonicalField) -> frozenset[str]:
        lex = self.lexicon
        implied: set[str] = set()
        if f.type in ("date", "datetime"):
            implied |= lex.temporal
        if f.is_reference:
            implied |= lex.identifier_tokens
        if f.type == "boolean":
            implied |= lex.boolean_tokens
        if "option_set" in f.values:
            implied |= lex.code_tokens - {"name"}
        if "probability" in f.values:
            implied |= {"percent"}
        return frozenset(implied)

    # -- name evidence ---------------------------------------------------------------------------
    def weight(self, token: str) -> float:
        return self.lexicon.generic.get(token, 1.0)

    def penalty(self, token: str) -> float:
        lex = self.lexicon
        if token in lex.negative:
            return NEGATIVE_PENALTY
        if token in lex.primary:
            return PRIMARY_PENALTY
        if token in lex.secondary:
            return SECONDARY_PENALTY
        return lex.generic.get(token, 1.0)

    def name_score(self, col: NameParts, phrase: Phrase, optional: frozenset[str]) -> tuple[float, bool]:
        """(score, secondary): how well the column's words say the phrase's words."""
        ctoks = set(col.tokens)
        counts = self.lexicon.count_markers
        col_counts, phrase_counts = ctoks & counts, phrase.tokens & counts
        if col_counts and phrase_counts and not col_counts & phrase_counts and ctoks - counts:
            ctoks = (ctoks - col_counts) | phrase_counts  # `# of Staff` says `staff count`
        if phrase.field.is_reference and phrase.field.name != "id":
            ctoks = {
                self.reference_alias.get(t, t) if self.reference_alias.get(t) in phrase.tokens else t for t in ctoks
            }
        context = set(col.context) - ctoks
        matched_core = ctoks & phrase.tokens
        matched_ctx = context & phrase.tokens
        if not (matched_core or matched_ctx) or not (matched_core or not ctoks - optional):
            return 0.0, False
        key = (phrase.field.entity, phrase.field.name)
        implied = self.implied[key]
        soft = self.soft_implied[key]
        m = sum(self.weight(t) for t in matched_core) + CONTEXT_WEIGHT * sum(self.weight(t) for t in matched_ctx)
        # The table's own entity words are optional, but one in place of another is a different
        # qualifier: `usage account id` is not the `invoice account id`.
        swapped = (ctoks & optional) - phrase.tokens and (phrase.tokens & optional) - ctoks - context
        optional_here = frozenset() if swapped else optional
        unexplained = ctoks - phrase.tokens - optional_here - implied
        if matched_core:
            unexplained -= self.single_words[key]
        u_col = sum(SOFT_IMPLIED_PENALTY if t in soft else self.penalty(t) for t in unexplained)
        missing = phrase.tokens - ctoks - context - optional_here
        referent = self.referent[key]
        # a word the field's type implies may be left out (`id` for `owner id`), at a small cost; the
        # word saying whose it is may not (`Email` of an account is not its `owner email`)
        u_phr = sum(
            self.weight(t) * (IMPLIED_PHRASE_PENALTY if t in implied else REFERENT_PENALTY if t in referent else 1.0)
            for t in missing
        )
        secondary = bool((ctoks - phrase.tokens) & self.lexicon.secondary) or (
            "secondary" in col.flags and "primary" not in phrase.text
        )
        score = m / (m + ALPHA_COLUMN * u_col + BETA_FIELD * u_phr)
        if matched_core | matched_ctx <= optional and missing - {"name"}:
            # `Company` in a companies table says little about which field, except that a bare
            # entity word is how people head the column of names (`Company`, `Customer`)
            score *= ALIAS_ONLY_FACTOR
        if self._head_mismatch(col.tokens, phrase):
            score *= HEAD_MISMATCH_FACTOR  # `unit price` is a price, `price unit` a unit
        # A prefix the phrase does not explain (`sku` in `sku.description` against plain
        # `description`) weighs little, but enough to prefer the phrase that explains it.
        stray = len(context - phrase.tokens - self.lexicon.context_prefix - optional)
        return score * (1.0 - CONTEXT_PENALTY * stray), secondary

    def _head(self, tokens) -> str | None:
        lex = self.lexicon
        for t in reversed(tokens):
            if t not in lex.generic and t not in lex.temporal and t not in lex.identifier_tokens:
                return t
        return None

    def _head_mismatch(self, col_tokens: tuple[str, ...], phrase: Phrase) -> bool:
        """Same words, different head noun: English compounds put the head last."""
        if len(phrase.order) < 2 or set(col_tokens) != set(phrase.tokens):
            return False
        a, b = self._head(col_tokens), self._head(phrase.order)
        counts = self.lexicon.count_markers
        return a is not None and b is not None and a != b and a not in counts and b not in counts

    def candidate_phrases(self, entity: str, col: NameParts) -> set[int]:
        index = self.by_token[entity]
        out: set[int] = set()
        for t in (*col.tokens, *col.context):
            out.update(index.get(t, ()))
        return out


def type_factor(field: CanonicalField, profile: ValueProfile) -> float:
    eff = profile.effective
    factor = _TYPE_COMPAT[field.type].get(eff, 0.0)
    if field.type == "boolean" and eff == "integer" and profile.share("boolean") == 1.0:
        factor = 0.6
    if field.type in ("date", "datetime") and eff == "integer" and profile.share("epoch") == 1.0:
        factor = 0.7
    if (
        field.type in ("integer", "decimal", "number")
        and eff == "string"
        and profile.any_share(["money", "number"]) >= 0.8
    ):
        factor = 0.95
    if field.type == "json" and eff == "string" and profile.share("key_value") >= 0.8:
        factor = 0.9
    if field.type == "string" and eff == "boolean" and "boolean" in field.values:
        factor = 1.0
    if field.type == "boolean" and "deal_outcome" in field.values and profile.share("deal_outcome") >= 0.8:
        factor = 1.0  # a won / lost / open status says whether the deal was won
    return factor


def value_factor(
    field: CanonicalField, profile: ValueProfile, entity: str, *, references: bool = False
) -> tuple[float, tuple[str, ...]]:
    """How well the samples look like what the field expects, and why. `references`: the column is
    named as a reference (`stage_id`), so ids are fine for a code-list field."""
    if profile.n == 0:
        return 0.93, ("no samples",)
    notes: list[str] = []
    expected: set[str] = set()
    for kind in field.values:
        expected |= _KIND_GROUPS.get(kind, {kind})
    if references:
        expected |= _KIND_GROUPS["identifier"]
    factor = 1.0
    if expected:
        share = profile.any_share(sorted(expected))
        if "textual" in expected and "url" not in expected:
            # a self-link (`.../machineTypes/e2-medium`) carries the value, if not cleanly
            share = min(1.0, share + 0.5 * profile.share("url"))
        strong = {
            "email",
            "url",
            "domain",
            "phone",
            "currency_code",
            "country",
            "state",
            "postal_code",
            "probability",
            "deal_outcome",
            "cloud_region",
            "cloud_az",
            "boolean",
            "datetime",
            "date",
            "json",
            "key_value",
            "money",
            "option_set",
            "arn",
            "cloud_resource_id",
        } & expected
        # id formats the field names itself (`guid`, `aws_account_id` for a sub account) confirm it
        strong |= set(field.values) & {"guid", "aws_account_id"}
        strong_share = profile.any_share(sorted(strong)) if strong else 0.0
        if share >= 0.8:
            factor = 1.08 if strong_share >= 0.6 else 1.0
        elif share >= 0.5:
            factor = 0.85
        elif share > 0:
            factor = 0.55
        elif expected & _LISTED_KINDS and profile.share("identifier") >= 0.8:
            # Region, currency and country lists are never complete (`nyc3`, `fsn1`): a code-like
            # column whose name says it leaves a human the question rather than a veto.
            factor = 0.6
        else:
            factor = 0.3
        if factor < 1.0:
            notes.append(f"{share:.0%} of samples look right")
    # Salesforce ids say which object they point to.
    if field.is_reference and profile.sf_prefixes and profile.share("sf_id") >= 0.6:
        target = sf_prefix_entity(profile.sf_prefixes[0])
        wanted = {entity} if field.name == "id" else _REFERENCE_TARGETS.get(field.name)
        if target and wanted:
            if target in wanted:
                factor *= 1.1
                notes.append(f"ids point to {target}")
            else:
                factor *= 0.3
                notes.append(f"ids point to {target}, not {'/'.join(sorted(wanted))}")
    # Only won / lost / open: an outcome flag, not the list of stages or types it could be part of.
    if "option_set" in field.values and "deal_outcome" not in field.values and profile.share("deal_outcome") >= 0.8:
        factor *= 0.7
        notes.append("values are deal outcomes")
    # One id in every sampled record is a scope (the vendor's workspace or tenant, `organization_id`
    # in Close, `company_id` in Pipedrive) as often as a link: the values cannot confirm a link.
    if field.name in _PER_RECORD_LINKS and profile.constant:
        factor *= CONSTANT_LINK_FACTOR
        notes.append("the same id in every sample")
    # A "name" that is a full resource path or ARN is the resource's identifier, not its name.
    if field.name in ("name", "resource_name") and profile.any_share(["cloud_resource_id", "arn"]) >= 0.8:
        factor *= 0.6
        notes.append("values are resource paths")
    # An amount-like field fed with a column of mostly text is not an amount.
    if (
        field.type in ("decimal", "number", "integer")
        and profile.share("textual") >= 0.5
        and profile.share("money") < 0.5
    ):
        factor *= 0.3
    return factor, tuple(notes)


def decoration_factor(field: CanonicalField, col: NameParts) -> tuple[float, tuple[str, ...]]:
    flags = col.flags
    factor, notes = 1.0, []
    if "system" in flags:
        return 0.0, ("system field",)
    if "tag" in flags:
        return 0.0, ("a single tag column",)
    if "custom" in flags:
        factor *= 0.95
    if "lookup" in flags and not field.is_reference and "identifier" not in field.values:
        factor *= 0.8
        notes.append("lookup column")
    if "count" in flags and field.type not in ("integer", "decimal", "number"):
        factor *= 0.3
        notes.append("a count")
    if "money" in flags and field.type not in ("decimal", "number", "integer"):
        factor *= 0.7
    if "percent" in flags and "money" in field.values:
        # `Revenue growth (% YoY)`, `Discount %`: a rate is never the amount it is a rate of
        factor *= 0.3
        notes.append("a percentage")
    return factor, tuple(notes)


def score_field(
    index: FieldIndex,
    entity: str,
    col: NameParts,
    profile: ValueProfile,
    field: CanonicalField,
    best_phrase: Phrase,
    name: float,
    secondary: bool,
) -> Candidate:
    tf = type_factor(field, profile)
    references = bool(set(col.tokens) & index.soft_implied[(entity, field.name)])
    vf, vnotes = value_factor(field, profile, entity, references=references)
    df, dnotes = decoration_factor(field, col)
    score = name * best_phrase.strength * tf * vf * df
    notes = list(vnotes) + list(dnotes)
    if secondary:
        score *= SECONDARY_FACTOR
        notes.append("secondary qualifier")
    return Candidate(
        field=field.name,
        score=min(score, 1.0),
        name_score=name * best_phrase.strength,
        type_factor=tf,
        value_factor=vf,
        phrase=best_phrase.text,
        notes=tuple(notes),
    )


def entity_candidates(
    index: FieldIndex, entity: str, col: NameParts, profile: ValueProfile, *, min_name: float = 0.2
) -> list[Candidate]:
    """All fields of `entity` the column could be, best first."""
    optional = index.optional[entity]
    best: dict[str, tuple[float, Phrase, bool]] = {}
    phrases = index.phrases[entity]
    for i in index.candidate_phrases(entity, col):
        phrase = phrases[i]
        name, secondary = index.name_score(col, phrase, optional)
        name_eff = name * phrase.strength
        if name_eff < min_name:
            continue
        current = best.get(phrase.field.name)
        if current is None or name_eff > current[0] * current[1].strength:
            best[phrase.field.name] = (name, phrase, secondary)
    out = [
        score_field(index, entity, col, profile, phrase.field, phrase, name, secondary)
        for name, phrase, secondary in best.values()
    ]
    out.sort(key=lambda c: c.score, reverse=True)
    return out


def value_only_candidates(
    index: FieldIndex, entity: str, col: NameParts, profile: ValueProfile, taken_names: Sequence[str] = ()
) -> list[Candidate]:
    """Fields a column's values alone point to (emails → email...), weak evidence for review only."""
    if profile.n < 2 or col.flags & {"system", "tag"}:
        return []
    out = []
    for kind, field_names in (
        ("email", ("email",)),
        ("url", ("website",)),
        ("domain", ("website",)),
        ("cloud_region", ("region_id",)),
        ("cloud_az", ("availability_zone",)),
        ("currency_code", ("currency", "billing_currency")),
        ("country", ("country",)),
        ("cloud_resource_id", ("resource_id",) if entity == "cost" else ("id",)),
        ("arn", ("resource_id",) if entity == "cost" else ("id",)),
    ):
        if profile.share(kind) < 0.8:
            continue
        for name in field_names:
            if index.ontology.defines_field(entity, name) and name not in taken_names:
                f = index.ontology.field(entity, name)
                out.append(
                    Candidate(
                        field=f.name,
                        score=0.55 * type_factor(f, profile),
                        name_score=0.0,
                        type_factor=1.0,
                        value_factor=1.0,
                        phrase="(values)",
                        notes=(f"values look like {kind}",),
                    )
                )
    return out
