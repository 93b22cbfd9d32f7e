"""Canonical values: every value of a field with a standard meaning mapped onto the ontology's value
set (aam/ontology.json "value_sets"), one decision per distinct source value. See
docs/adr/0014-canonical-values.md."""
