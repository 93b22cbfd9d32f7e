"""Dataverse choice labels shipped beside exported tables.

Azure Synapse Link for Dataverse (and Fabric Link) exports choice columns as their integer values and
writes their labels in a folder named `OptionsetMetadata` next to the tables (Microsoft Learn, "Access
choice labels directly from Azure Synapse Link for Dataverse"):

    OptionsetMetadata.csv        EntityName, OptionSetName, Option, IsUserLocalizedLabel,
                                 LocalizedLabelLanguageCode, LocalizedLabel
    GlobalOptionsetMetadata.csv  the same columns plus GlobalOptionSetName
    StateMetadata.csv            EntityName, State, IsUserLocalizedLabel, LocalizedLabelLanguageCode,
                                 LocalizedLabel                                  (the statecode column)
    StatusMetadata.csv           EntityName, State, Status, IsUserLocalizedLabel,
                                 LocalizedLabelLanguageCode, LocalizedLabel      (the statuscode column)

A file with a header row is read by its column names; one without is read in the order above. Of
several languages the user-localized label wins, then English (1033), then the first one listed.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..saas import options
from .paths import ensure_allowed

FOLDER = "OptionsetMetadata"
MAX_BYTES = 64 * 1024 * 1024  # the whole environment's choices fit in a few megabytes
ENGLISH = "1033"
_LABEL_COLUMNS = ["IsUserLocalizedLabel", "LocalizedLabelLanguageCode", "LocalizedLabel"]
# file → (column order without a header, the column holding the option's value, the attribute name or
# the column that names it)
TABLES = {
    "OptionsetMetadata.csv": (["EntityName", "OptionSetName", "Option", *_LABEL_COLUMNS], "Option", None),
    "GlobalOptionsetMetadata.csv": (
        ["OptionSetName", "Option", *_LABEL_COLUMNS, "GlobalOptionSetName", "EntityName"],
        "Option",
        None,
    ),
    "StateMetadata.csv": (["EntityName", "State", *_LABEL_COLUMNS], "State", "statecode"),
    "StatusMetadata.csv": (["EntityName", "State", "Status", *_LABEL_COLUMNS], "Status", "statuscode"),
}


def _rows(path: Path, order: list[str]) -> list[dict[str, str]]:
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_BYTES // 2**20} MB")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        return []
    header = [cell.strip() for cell in rows[0]]
    if "LocalizedLabel" in header:
        return [dict(zip(header, row, strict=False)) for row in rows[1:]]
    return [dict(zip(order, row, strict=False)) for row in rows]


def _rank(row: dict[str, str]) -> int:
    if str(row.get("IsUserLocalizedLabel", "")).strip().lower() == "true":
        return 0
    return 1 if str(row.get("LocalizedLabelLanguageCode", "")).strip() == ENGLISH else 2


def synapse_option_sets(folder: Path, entity: str) -> dict[str, dict]:
    """Column → `{"options": [{"value": int, "label"}]}` for one exported table, from the
    OptionsetMetadata folder beside it ({} when there is none)."""
    meta = folder / FOLDER
    if not meta.is_dir():
        return {}
    found: dict[str, dict[int, tuple[int, str]]] = {}  # column → value → (rank, label)
    for name, (order, value_column, fixed) in TABLES.items():
        path = meta / name
        if not path.is_file():
            continue
        for row in _rows(ensure_allowed(path), order):
            if str(row.get("EntityName", "")).strip().lower() != entity.lower():
                continue
            column = fixed or str(row.get("OptionSetName", "")).strip()
            try:
                value = int(str(row.get(value_column, "")).strip())
            except ValueError:
                continue
            label = row.get("LocalizedLabel")
            if not column or label is None:
                continue
            rank = _rank(row)
            known = found.setdefault(column, {}).get(value)
            if known is None or rank < known[0]:
                found[column][value] = (rank, label)
    return {column: options((v, label) for v, (_, label) in sorted(values.items())) for column, values in found.items()}
