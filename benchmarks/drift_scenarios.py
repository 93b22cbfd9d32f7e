"""Real-looking drifts of the demo exports, with the truth of each: the test suite and `bench_drift`.

A scenario copies one demo CSV (`connectors.demo.generate`) into its own folder, connects it as a
filesource connection, takes the baseline the way a sync does (`drift_check`, then
`mapping_ensure`), edits the file the way a vendor's export changes, discovers it again and runs
`drift_check` under the connection's policy, then `mapping_ensure` as the sync would next.

`core_scenarios()` are the hand-written cases of the issue; `generated_scenarios(demo_dir)` renames,
drops, retypes and swaps every mapped column of every demo file in its vendor's own style, for the
benchmark's figures.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Table = tuple[list[str], list[list[str]]]
Edit = Callable[[Table], Table]


@dataclass(frozen=True)
class Scenario:
    name: str
    system: str  # demo folder: salesforce, hubspot, dynamics, aws_cur, aws_inventory
    file: str
    edit: Edit
    expect: tuple[tuple[str, str, str | None], ...]  # (kind, field, new_field); () = no drift
    # what the active mapping must say after an automatic repair (source field → canonical field);
    # a field given here must NOT be repaired automatically when its value is "review"
    outcome: dict[str, str | None] = field(default_factory=dict)
    review: tuple[str, ...] = ()  # changed fields that must wait for a human under `auto`
    note: str = ""

    @property
    def object_name(self) -> str:
        return self.file.rsplit(".", 1)[0]


# --- edits --------------------------------------------------------------------------------------


def rename(old: str, new: str) -> Edit:
    def edit(t: Table) -> Table:
        header, rows = t
        return [new if h == old else h for h in header], rows

    return edit


def drop(name: str) -> Edit:
    def edit(t: Table) -> Table:
        header, rows = t
        i = header.index(name)
        return header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in rows]

    return edit


def add(name: str, value: Callable[[int, dict[str, str]], str]) -> Edit:
    def edit(t: Table) -> Table:
        header, rows = t
        return header + [name], [r + [value(i, dict(zip(header, r, strict=False)))] for i, r in enumerate(rows)]

    return edit


def transform(name: str, fn: Callable[[str], str]) -> Edit:
    def edit(t: Table) -> Table:
        header, rows = t
        i = header.index(name)
        return header, [r[:i] + [fn(r[i]) if r[i] else r[i]] + r[i + 1 :] for r in rows]

    return edit


def swap(a: str, b: str) -> Edit:
    """The export labels two columns the other way round: the values stay, the names exchange."""

    def edit(t: Table) -> Table:
        header, rows = t
        return [b if h == a else a if h == b else h for h in header], rows

    return edit


def reorder(t: Table) -> Table:
    header, rows = t
    order = sorted(range(len(header)), key=lambda i: header[i][::-1])
    return [header[i] for i in order], [[r[i] for i in order] for r in rows]


def second_page(t: Table) -> Table:
    """Only the newer half of the records: other ids, other values, the same schema."""
    header, rows = t
    return header, rows[len(rows) // 2 :]


def chain(*edits: Edit) -> Edit:
    def edit(t: Table) -> Table:
        for e in edits:
            t = e(t)
        return t

    return edit


def unchanged(t: Table) -> Table:
    return t


def read_table(path: Path) -> Table:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_table(path: Path, table: Table) -> None:
    header, rows = table
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


# --- the hand-written suite ---------------------------------------------------------------------

_STAGES = {"appointmentscheduled": "1", "qualifiedtobuy": "2", "presentationscheduled": "3"}
_STAGES.update({"decisionmakerboughtin": "4", "contractsent": "5", "closedwon": "6", "closedlost": "7"})


def _money(v: str) -> str:
    return f"USD {float(v):,.2f}"


def _zero_padded_account(v: str) -> str:
    # AWS account ids are 12 digits and may start with 0: a new linked account makes the column text
    return "0" + v[1:] if v.startswith("1") else v


def core_scenarios() -> list[Scenario]:
    """The issue's drifts on the demo exports (and the no-drift cases)."""
    return [
        Scenario(
            "salesforce_amount_to_custom_field",
            "salesforce",
            "Opportunity.csv",
            rename("Amount", "Amount__c"),
            (("renamed", "Amount", "Amount__c"),),
            outcome={"Amount__c": "amount"},
            note="a standard field replaced by a custom one",
        ),
        Scenario(
            "hubspot_property_label_rename",
            "hubspot",
            "deals.csv",
            rename("dealname", "Deal Name"),
            (("renamed", "dealname", "Deal Name"),),
            outcome={"Deal Name": "name"},
            note="the export switched from internal property names to labels",
        ),
        Scenario(
            "dynamics_custom_prefix_rename",
            "dynamics",
            "opportunity.csv",
            rename("estimatedvalue", "new_estimatedvalue"),
            (("renamed", "estimatedvalue", "new_estimatedvalue"),),
            outcome={"new_estimatedvalue": "amount"},
        ),
        Scenario(
            "aws_cur2_snake_case_rename",
            "aws_cur",
            "cost_and_usage_report.csv",
            rename("lineItem/UnblendedCost", "line_item_unblended_cost"),
            (("renamed", "lineItem/UnblendedCost", "line_item_unblended_cost"),),
            outcome={"line_item_unblended_cost": "billed_cost"},
            note="AWS CUR 2.0 (Data Exports) column naming",
        ),
        Scenario(
            "salesforce_column_dropped",
            "salesforce",
            "Opportunity.csv",
            drop("Probability"),
            (("removed", "Probability", None),),
            outcome={"Probability": "probability"},  # still mapped: a removal waits for a human
            review=("Probability",),
        ),
        Scenario(
            "hubspot_dealstage_string_to_number",
            "hubspot",
            "deals.csv",
            transform("dealstage", lambda v: _STAGES.get(v, "8")),
            (("retyped", "dealstage", None),),
            outcome={"dealstage": "stage"},  # kept until a human accepts the narrowing
            review=("dealstage",),
            note="a custom pipeline: stage ids instead of internal names",
        ),
        Scenario(
            "salesforce_amount_number_to_formatted_string",
            "salesforce",
            "Opportunity.csv",
            transform("Amount", _money),
            (("retyped", "Amount", None),),
            outcome={"Amount": "amount"},
            note="a widening whose values the pipeline still reads as money: repaired",
        ),
        Scenario(
            "salesforce_probability_number_to_picklist",
            "salesforce",
            "Opportunity.csv",
            transform("Probability", lambda v: "High" if int(v) >= 70 else "Medium" if int(v) >= 30 else "Low"),
            (("retyped", "Probability", None),),
            outcome={"Probability": "probability"},  # kept until a human decides
            review=("Probability",),
            note="a widening whose values no longer read as numbers: a human decides",
        ),
        Scenario(
            "aws_inventory_account_id_number_to_string",
            "aws_inventory",
            "resources.csv",
            transform("accountId", _zero_padded_account),
            (("retyped", "accountId", None),),
            outcome={"accountId": "sub_account_id"},
            note="account ids with a leading zero: a widening that still fits the canonical text field",
        ),
        Scenario(
            "salesforce_new_column_mapped",
            "salesforce",
            "Contact.csv",
            add("MailingPostalCode", lambda i, r: f"{94105 + i * 7 % 800:05d}"),
            (("added", "MailingPostalCode", None),),
            outcome={"MailingPostalCode": "postal_code"},
        ),
        Scenario(
            "salesforce_new_column_without_counterpart",
            "salesforce",
            "Opportunity.csv",
            add("Region__c", lambda i, r: ("EMEA", "AMER", "APAC")[i % 3]),
            (("added", "Region__c", None),),
            outcome={"Region__c": None},
        ),
        Scenario(
            "salesforce_contact_names_swapped",
            "salesforce",
            "Contact.csv",
            swap("FirstName", "LastName"),
            (("renamed", "FirstName", "LastName"), ("renamed", "LastName", "FirstName")),
            outcome={"FirstName": "last_name", "LastName": "first_name"},
        ),
        Scenario("salesforce_unchanged_resync", "salesforce", "Opportunity.csv", unchanged, ()),
        Scenario("hubspot_reordered_columns", "hubspot", "contacts.csv", reorder, ()),
        Scenario("dynamics_second_page_of_records", "dynamics", "account.csv", second_page, ()),
        Scenario("aws_inventory_unchanged_resync", "aws_inventory", "resources.csv", unchanged, ()),
    ]


# --- generated renames / drops / swaps for the benchmark ------------------------------------------


def _snake(name: str) -> str:
    name = name.replace("/", "_").replace(".", "_")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def vendor_rename(system: str, name: str) -> str:
    """How a field of this vendor's export typically gets renamed."""
    if system == "salesforce":
        return f"{name}__c"
    if system == "hubspot":
        return " ".join(w.capitalize() for w in re.split(r"[_\s]+", name.removeprefix("hs_")) if w)
    if system == "dynamics":
        return f"new_{name}" if not name.startswith("_") else f"new{name}"
    return _snake(name)


def generated_scenarios(demo_dir: Path, mapped: dict[tuple[str, str], dict[str, str]]) -> list[Scenario]:
    """One rename per mapped field of every demo file, one drop and one swap per file, and the
    no-drift cases per file. `mapped`: (system, file) → {source field: canonical field}, the
    baseline mappings (renames are only meaningful for fields that are mapped)."""
    out: list[Scenario] = []
    for (system, file), fields in sorted(mapped.items()):
        header, _ = read_table(demo_dir / system / file)
        for name, canonical in sorted(fields.items()):
            new = vendor_rename(system, name)
            if new == name or new in header:
                continue
            out.append(
                Scenario(
                    f"gen_rename_{system}_{file}_{name}",
                    system,
                    file,
                    rename(name, new),
                    (("renamed", name, new),),
                    outcome={new: canonical},
                )
            )
        victim = sorted(fields)[len(fields) // 2] if fields else None
        if victim:
            out.append(
                Scenario(
                    f"gen_drop_{system}_{file}_{victim}",
                    system,
                    file,
                    drop(victim),
                    (("removed", victim, None),),
                    outcome={victim: fields[victim]},
                    review=(victim,),
                )
            )
        for kind, edit in (("unchanged", unchanged), ("reordered", reorder), ("second_page", second_page)):
            out.append(Scenario(f"gen_{kind}_{system}_{file}", system, file, edit, ()))
    return out


# --- running a scenario ---------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    scenario: Scenario
    changes: list[tuple[str, str, str | None]]
    events: list[Any]
    before: dict[str, str]
    after: dict[str, str]
    pending: dict[str, str]
    frozen: bool
    connection: Any
    outcome: Any

    @property
    def detected_right(self) -> bool:
        return sorted(self.changes) == sorted(self.scenario.expect)

    def auto_applied(self) -> list[Any]:
        return [e for e in self.events if e.status == "applied"]

    def wrong_auto_repairs(self) -> list[str]:
        """Automatic repairs that contradict the scenario's truth."""
        wrong = []
        expected = set(self.scenario.expect)
        for e in self.auto_applied():
            key = (e.kind, e.field, e.new_field or None)
            if key not in expected:
                wrong.append(f"{key} applied but is no such change")
                continue
            target = e.repair.get("source_field")
            if target in self.scenario.review:
                wrong.append(f"{target} repaired without review")
            elif target in self.scenario.outcome and self.after.get(target) != self.scenario.outcome[target]:
                wrong.append(f"{target} → {self.after.get(target)}, expected {self.scenario.outcome[target]}")
        return wrong


def run_scenario(
    scenario: Scenario, *, demo_dir: Path, work_dir: Path, policy: str = "auto", name_suffix: str = ""
) -> ScenarioResult:
    """Baseline, edit, re-discover, check (inside the current tenant; nothing is read or streamed)."""
    import shutil

    from aam.drift.errors import DriftFrozen
    from aam.drift.services import drift_check
    from aam.models import DriftEvent
    from aam.selectors import mapping_active
    from aam.services import mapping_ensure
    from connectors.services import connection_create, connection_discover

    folder = work_dir / f"{scenario.name}{name_suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / scenario.file
    shutil.copyfile(demo_dir / scenario.system / scenario.file, path)
    connection = connection_create(
        name=f"{scenario.name}{name_suffix}"[:200],
        kind="filesource",
        config={"folder": str(folder), "files": [scenario.file], "source_system": scenario.system},
        drift_policy=policy,
    )

    def discover():
        return next(o for o in connection_discover(connection=connection) if o.name == scenario.object_name)

    obj = discover()
    drift_check(connection=connection, source_object=obj)
    mapping_ensure(connection=connection, source_object=obj)
    before = mapping_active(connection=connection, source_object_name=obj.name)

    write_table(path, scenario.edit(read_table(path)))
    obj = discover()
    frozen = False
    try:
        outcome = drift_check(connection=connection, source_object=obj)
    except DriftFrozen as exc:
        outcome, frozen = exc.outcome, True
    if not frozen:
        mapping_ensure(connection=connection, source_object=obj)  # what the sync does next
    after = mapping_active(connection=connection, source_object_name=obj.name)
    events = list(DriftEvent.objects.filter(connection=connection).order_by("id"))
    return ScenarioResult(
        scenario=scenario,
        changes=[(e.kind, e.field, e.new_field or None) for e in events],
        events=events,
        before=dict(before.fields) if before else {},
        after=dict(after.fields) if after else {},
        pending=dict(after.pending) if after else {},
        frozen=frozen,
        connection=connection,
        outcome=outcome,
    )
