"""docs/canonical-values.md, rendered from the ontology (`manage.py ontology_docs`).

The ontology (aam/ontology.json) is the one place the canonical value sets are defined; this page is
generated from it, never edited by hand, and `manage.py ontology_docs --check` (run by the tests)
fails when the file no longer matches the ontology.
"""

from __future__ import annotations

from pathlib import Path

from aam.ontology import VALUE_SET_KIND_NOTES, CanonicalField, Ontology

DOC_PATH = Path("docs") / "canonical-values.md"  # relative to the repository root


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(value) -> str:
    return f"`{value}`"


def _values_line(f: CanonicalField) -> str:
    vs = f.value_set
    assert vs is not None
    if vs.is_enum:
        return f"Values ({len(vs.values)}): " + ", ".join(_code(v) for v in vs.values)
    if vs.kind == "number":
        low, high = vs.values
        return f"Values: a number from {_code(low)} to {_code(high)}"
    if vs.kind == "region":
        return "Values: the provider's own region codes (its catalog, not repeated here)"
    return "Values: the standard code list (not repeated here)"


def _field_kind(f: CanonicalField) -> str:
    return "derived field" if f.derived_from else "mapped field"


def render_value_docs(ontology: Ontology) -> str:
    """The Markdown page listing every value set (kind, values, description) and the derived fields."""
    lines = [
        "# Canonical values",
        "",
        "<!-- Generated from aam/ontology.json by `manage.py ontology_docs`: do not edit by hand. -->",
        "",
        "A field with a standard meaning has a canonical value set in the ontology (`aam/ontology.json`,",
        "`value_sets`, keyed `entity.field`): the one place its values are defined. The value-mapping",
        "engine maps every distinct source value onto it; the unified views hold the canonical value in",
        "`<field>` and the source's own value beside it in `<field>_source`; a value awaiting review is",
        "null, never a guess. The API serves the same sets (`GET /api/aam/ontology/`, and the enums of",
        "`/api/dcl/views/{entity}/` rows in the OpenAPI schema at `/api/schema/`).",
        "",
        "This page is generated from the ontology: change `aam/ontology.json`, then run",
        "`manage.py ontology_docs` (`manage.py ontology_docs --check` fails while this page is stale).",
        "",
        "Kinds of value set:",
        "",
    ]
    lines += [f"- `{kind}`: {note}" for kind, note in VALUE_SET_KIND_NOTES.items()]
    valued = [
        f
        for entity in ontology.entities.values()
        for f in (*entity.fields.values(), *entity.derived.values())
        if f.value_set is not None
    ]
    lines += [
        "",
        "## Summary",
        "",
        "| field | kind | values | field kind |",
        "| --- | --- | --- | --- |",
    ]
    for f in valued:
        vs = f.value_set
        count = str(len(vs.values)) if vs.is_enum else ("bounds" if vs.kind == "number" else "standard list")
        lines.append(
            f"| [`{f.qualified_name}`](#{f.qualified_name.replace('.', '')}) "
            f"| {vs.kind} | {count} | {_field_kind(f)} |"
        )
    lines += ["", "## Value sets"]
    for entity in ontology.entities.values():
        fields = [f for f in (*entity.fields.values(), *entity.derived.values()) if f.value_set is not None]
        if not fields:
            continue
        lines += ["", f"### {entity.label} (`{entity.name}`)"]
        for f in fields:
            vs = f.value_set
            lines += [
                "",
                f"#### {f.qualified_name}",
                "",
                f"- Kind: `{vs.kind}` ({VALUE_SET_KIND_NOTES[vs.kind]})",
                f"- Field: {_field_kind(f)}, type `{f.type}`"
                + (f", derived from `{f.derived_from}`" if f.derived_from else "")
                + (f", read from `{f.fallback}` where a source maps no column onto it" if f.fallback else "")
                + (f": {_cell(f.description)}" if f.description.strip() else ""),
            ]
            if vs.description.strip():
                lines.append(f"- Value set: {_cell(vs.description)}")
            lines.append(f"- {_values_line(f)}")
    lines += [
        "",
        "## Derived fields",
        "",
        "Not mapped from a source column: the pipeline computes them.",
        "",
        "| field | type | derived from | value set | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entity in ontology.entities.values():
        for f in entity.derived.values():
            value_set = f"`{f.value_set.kind}`" if f.value_set else "none"
            lines.append(
                f"| `{f.qualified_name}` | `{f.type}` | `{entity.name}.{f.derived_from}` | {value_set} "
                f"| {_cell(f.description)} |"
            )
    return "\n".join(lines) + "\n"
