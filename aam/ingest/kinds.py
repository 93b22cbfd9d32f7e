"""Canonical value kinds and their Arrow types.

The ontology names a type per canonical field; every such name maps to one of a few kinds, each
with one Arrow type used on the wire, in DuckDB and (via dcl) in PostgreSQL.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

# Money and quantities: 38 digits, 10 after the point (cloud usage quantities go below 1e-6).
DECIMAL_PRECISION = 38
DECIMAL_SCALE = 10


class Kind(StrEnum):
    STRING = "string"
    DECIMAL = "decimal"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    JSON = "json"


ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.STRING: pa.string(),
    Kind.DECIMAL: pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
    Kind.INTEGER: pa.int64(),
    Kind.BOOLEAN: pa.bool_(),
    Kind.DATE: pa.date32(),
    Kind.DATETIME: pa.timestamp("us", tz="UTC"),
    Kind.JSON: pa.string(),  # JSON text, validated
}

# Type names the ontology (or a source schema) may use, folded onto a kind.
_ALIASES: dict[str, Kind] = {
    "string": Kind.STRING,
    "str": Kind.STRING,
    "text": Kind.STRING,
    "varchar": Kind.STRING,
    "id": Kind.STRING,
    "email": Kind.STRING,
    "url": Kind.STRING,
    "phone": Kind.STRING,
    "enum": Kind.STRING,
    "reference": Kind.STRING,
    "decimal": Kind.DECIMAL,
    "number": Kind.DECIMAL,
    "numeric": Kind.DECIMAL,
    "money": Kind.DECIMAL,
    "currency": Kind.DECIMAL,
    "float": Kind.DECIMAL,
    "double": Kind.DECIMAL,
    "quantity": Kind.DECIMAL,
    "percent": Kind.DECIMAL,
    "integer": Kind.INTEGER,
    "int": Kind.INTEGER,
    "bigint": Kind.INTEGER,
    "boolean": Kind.BOOLEAN,
    "bool": Kind.BOOLEAN,
    "date": Kind.DATE,
    "datetime": Kind.DATETIME,
    "timestamp": Kind.DATETIME,
    "timestamptz": Kind.DATETIME,
    "json": Kind.JSON,
    "object": Kind.JSON,
    "array": Kind.JSON,
    "map": Kind.JSON,
    "tags": Kind.JSON,
}


def kind_for(type_name: str | None) -> Kind:
    """The kind of an ontology type name; unknown names are strings (never lose a value)."""
    return _ALIASES.get((type_name or "").strip().lower(), Kind.STRING)
