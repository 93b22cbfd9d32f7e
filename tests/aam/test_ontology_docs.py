"""docs/canonical-values.md is generated from the ontology (`manage.py ontology_docs`) and `--check` fails
when it is missing or stale."""

import copy
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import aam.management.commands.ontology_docs as command
from aam.ontology import ONTOLOGY_PATH, get_ontology, parse_ontology
from aam.ontology_docs import render_value_docs


def test_the_committed_page_matches_the_ontology():
    call_command("ontology_docs", "--check")  # raises CommandError (exit 1) when stale


def test_the_page_lists_every_value_set_with_its_kind_values_and_description_and_the_derived_fields():
    ontology = get_ontology()
    text = render_value_docs(ontology)
    for key, vs in ontology.value_sets.items():
        section = text.split(f"\n#### {key}\n", 1)[1].split("\n#### ", 1)[0].split("\n## ", 1)[0]
        assert f"- Kind: `{vs.kind}`" in section
        assert " ".join(vs.description.split()) in section
        if vs.is_enum:
            assert f"Values ({len(vs.values)}): " + ", ".join(f"`{v}`" for v in vs.values) in section
    derived = text.split("\n## Derived fields\n", 1)[1]
    for entity in ontology.entities.values():
        for f in entity.derived.values():
            assert f"| `{f.qualified_name}` | `{f.type}` | `{entity.name}.{f.derived_from}` |" in derived


def test_check_fails_on_a_missing_or_stale_file_and_passes_once_written(tmp_path, capsys):
    out = tmp_path / "docs" / "values.md"
    with pytest.raises(CommandError, match="missing") as missing:
        call_command("ontology_docs", "--check", "--out", str(out))
    assert missing.value.returncode == 1
    call_command("ontology_docs", "--out", str(out))
    call_command("ontology_docs", "--check", "--out", str(out))
    assert "is current" in capsys.readouterr().out
    out.write_text(out.read_text().replace("`commit`", "`upside`"))
    with pytest.raises(CommandError, match="stale") as stale:
        call_command("ontology_docs", "--check", "--out", str(out))
    assert stale.value.returncode == 1


def test_a_change_to_the_ontology_makes_the_committed_page_stale(monkeypatch):
    data = copy.deepcopy(json.loads(ONTOLOGY_PATH.read_text()))
    data["value_sets"]["opportunity.forecast_category"]["values"].append("upside")
    monkeypatch.setattr(command, "get_ontology", lambda: parse_ontology(data))
    with pytest.raises(CommandError, match="stale") as stale:
        call_command("ontology_docs", "--check")
    assert stale.value.returncode == 1
