"""The vendor's own metadata about a column, as the drivers fetch it.

`{"options": [{"value", "label"}]}` (Salesforce describe picklistValues, HubSpot property options,
Dynamics option sets) gives each code its label; `{"stages": [{"value", "label", "probability"?,
"is_closed"?, "is_won"?, "forecast_category"?}]}` (Salesforce OpportunityStage, HubSpot pipeline
stages) gives status outright (closed + won = won, closed = lost, else open), stage_category from
the flags and, for open stages, the stage's words and its place in the funnel (probability, else
order), and forecast_category from the stage's forecast category."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..types import raw_key
from . import Candidate

FLAGS = 0.98
OPEN_CATEGORIES = ("qualify", "develop", "propose", "negotiate")


@dataclass(frozen=True)
class Stage:
    key: str
    label: str | None
    probability: float | None
    is_closed: bool | None
    is_won: bool | None
    forecast_category: str | None
    position: float | None = None  # 0..1 among the open stages, in the vendor's order


def _bool(v) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


def _prob(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(str(v).strip().rstrip("%"))
    except ValueError:
        return None
    if x != x or x < 0:
        return None
    return x / 100.0 if x > 1 else x


def _text(v) -> str | None:
    return v if isinstance(v, str) and v.strip() else None


def parse(metadata: Any) -> tuple[dict[str, str], dict[str, Stage]]:
    """(raw key -> label, raw key -> Stage) from the column's metadata; bad shapes are ignored."""
    labels: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    if not isinstance(metadata, dict):
        return labels, stages
    for group in ("options", "stages"):
        items = metadata.get(group)
        if not isinstance(items, list):
            continue
        for item in items:
            if not isinstance(item, dict) or "value" not in item or isinstance(item["value"], (dict, list)):
                continue
            key = raw_key(item["value"])
            label = _text(item.get("label"))
            if label:
                labels.setdefault(key, label)
            if group == "stages":
                stages[key] = Stage(
                    key,
                    label,
                    _prob(item.get("probability")),
                    _bool(item.get("is_closed")),
                    _bool(item.get("is_won")),
                    _text(item.get("forecast_category")),
                )
    open_keys = [k for k, s in stages.items() if s.is_closed is False]
    if len(open_keys) > 1:
        for i, k in enumerate(open_keys):
            s = stages[k]
            stages[k] = Stage(
                s.key, s.label, s.probability, s.is_closed, s.is_won, s.forecast_category, i / (len(open_keys) - 1)
            )
    # Some drivers hand over the label in place of the code (an API's formatted value: HubSpot's
    # "Closed Won" for `closedwon`, Dynamics' "Won" for 1): a label is a key too, where it is no code
    # and no other option has it (a label two options share says nothing for sure).
    shared = Counter(labels.values())
    for key, label in list(labels.items()):
        if label not in labels and shared[label] == 1:
            labels[label] = label
            if key in stages:
                stages[label] = stages[key]
    return labels, stages


def status_from_stage(stage: Stage) -> Candidate | None:
    if stage.is_closed is None:
        if stage.is_won:
            return Candidate("won", FLAGS, "metadata", "stage is won")
        return None
    if stage.is_closed:
        return Candidate(
            "won" if stage.is_won else "lost",
            FLAGS,
            "metadata",
            "closed stage" + (", won" if stage.is_won else ", not won"),
        )
    return Candidate("open", FLAGS, "metadata", "stage is not closed")


def funnel_band(stage: Stage) -> str | None:
    """An open stage's place in the funnel: by its probability, else its order among open stages."""
    x = stage.probability if stage.probability is not None else stage.position
    if x is None:
        return None
    if x <= 0.25:
        return "qualify"
    if x <= 0.6:
        return "develop"
    if x <= 0.8:
        return "propose"
    return "negotiate"


def stage_category_from_stage(stage: Stage, lexical: Candidate | None) -> Candidate | None:
    """Closed stages from the flags; open ones from their words, checked against the funnel band."""
    if stage.is_closed:
        return Candidate("won" if stage.is_won else "lost", FLAGS, "metadata", "closed stage")
    if stage.is_closed is None:
        return None
    word = lexical.canonical if lexical is not None and lexical.canonical in OPEN_CATEGORIES else None
    band = funnel_band(stage)
    if word and band:
        gap = abs(OPEN_CATEGORIES.index(word) - OPEN_CATEGORIES.index(band))
        if gap == 0:
            return Candidate(word, 0.95, "metadata", "open stage; its words and its place in the funnel agree")
        conf = 0.88 if gap == 1 and lexical.confidence >= 0.9 else 0.75
        return Candidate(word, conf, "metadata", f"open stage; its words say {word}, its place in the funnel {band}")
    if word:
        return Candidate(word, min(0.9, lexical.confidence), "metadata", "open stage; named by its words")
    if band:
        return Candidate(band, 0.86, "metadata", "open stage; by its place in the funnel")
    return None


def forecast_from_stage(stage: Stage, match) -> Candidate | None:
    """The stage's own forecast category (Salesforce ForecastCategoryName), read through `match`."""
    if not stage.forecast_category:
        return None
    hit = match(stage.forecast_category)
    if hit is None or hit.canonical is None:
        return None
    return Candidate(hit.canonical, min(0.95, hit.confidence), "metadata", "the stage's forecast category")
