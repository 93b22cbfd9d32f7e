"""Every Redis name comes from autonomos/core/redis_names.py, carries the tenant's hash tag, and keeps
the exact string existing data in Redis was written under."""

from __future__ import annotations

import ast
import inspect
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from autonomos.core import redis_names

ROOT = Path(__file__).resolve().parent.parent
APPS = ("autonomos", "tenants", "connectors", "aam", "dcl", "agents")
NAMES_MODULE = ROOT / "autonomos" / "core" / "redis_names.py"

TID = uuid.UUID("0f0e0d0c-0b0a-4908-8706-050403020100")
TENANT = SimpleNamespace(tenant_id=TID)
TAG = "{" + str(TID) + "}"

# Names that are not keys (a group inside a stream key, a channel-layer group: braces are not
# allowed there); they carry the tenant id without the hash tag.
NOT_KEYS = {"consumer_group", "events_channel_group"}


def _tenant_name_functions():
    out = {}
    for name, fn in inspect.getmembers(redis_names, inspect.isfunction):
        if name.startswith("_") or fn.__module__ != redis_names.__name__:
            continue
        params = list(inspect.signature(fn).parameters)
        if params and params[0] == "tenant" and name not in ("tenant_key", "tenant_id_of", "tenant_keys_pattern",
                                                             "cache_key"):
            out[name] = fn
    return out


def _call(fn):
    extra = [7] * (len(inspect.signature(fn).parameters) - 1)
    return fn(TENANT, *extra)


def test_every_tenant_name_carries_the_tenant_hash_tag():
    functions = _tenant_name_functions()
    assert len(functions) >= 12  # the streams, locks, sets, counters listed in the module
    for name, fn in functions.items():
        value = _call(fn)
        if name in NOT_KEYS:
            assert TAG not in value and str(TID).replace("-", "") in value.replace("-", ""), name
        else:
            assert value.count(TAG) == 1, (name, value)
        assert fn(str(TID), *([7] * (len(inspect.signature(fn).parameters) - 1))) == value  # an id works too


def test_the_names_are_the_strings_already_in_redis():
    # Data written before this module existed lives under these exact names: they must not change.
    expected = {
        redis_names.sync_stream(TENANT, 42): f"aam:dcl:{TAG}:42",
        redis_names.sync_streams_registry(TENANT): f"aam:{TAG}:streams",
        redis_names.consumer_group(TENANT): f"dcl_engine:{TID}",
        redis_names.sync_lock(TENANT, 42): f"aam:synclock:{TAG}:42",
        redis_names.sync_locks_pattern(TENANT): f"aam:synclock:{TAG}:*",
        redis_names.sync_checkpoints(TENANT, 42): f"aam:ckpt:{TAG}:42",
        redis_names.sync_checkpoints_lock(TENANT, 42): f"aam:ckpt:{TAG}:42:lock",
        redis_names.applied_batches(TENANT): f"dcl:{TAG}:applied",
        redis_names.dead_letters(TENANT): f"dcl:{TAG}:dlq",
        redis_names.drift_lock(TENANT): f"aam:{TAG}:driftlock",
        redis_names.events_stream(TENANT): f"events:{TAG}",
        redis_names.events_channel_group(TENANT): f"events.{TID.hex}",
        redis_names.llm_usage_totals(TENANT): f"llm:usage:{TAG}:totals",
        redis_names.llm_usage_by_purpose(TENANT): f"llm:usage:{TAG}:by_purpose",
        redis_names.cache_key("k", "p", 3, TENANT): f"cache:{TAG}:p:3:k",
        redis_names.cache_key("k", "p", 3, None): "cache:{public}:p:3:k",
        redis_names.view_stamp("account"): "dcl:stamp:account",
        redis_names.view_page("account", "abc"): "dcl:page:account:abc",
        redis_names.view_count("account", "3-1700000000.0", "abc"): "dcl:count:account:3-1700000000.0:abc",
    }
    for got, want in expected.items():
        assert got == want


def test_cache_level_names_get_the_hash_tag_from_the_cache_key_function():
    for inner in (redis_names.view_stamp("account"), redis_names.view_page("account", "d"),
                  redis_names.view_count("account", "1-2.0", "d")):
        assert redis_names.cache_key(inner, "", 1, TENANT).startswith(f"cache:{TAG}:")


def test_a_name_without_a_tenant_is_refused():
    for bad in (None, "", SimpleNamespace(tenant_id=None)):
        with pytest.raises(ValueError):
            redis_names.sync_stream(bad, 1)
    with pytest.raises(ValueError):
        redis_names.tenant_keys_pattern("not-a-uuid")  # a SCAN pattern that could match others' keys


def test_the_tenant_pattern_is_the_escaped_hash_tag_between_wildcards():
    # Braces are not special in a Redis glob: the pattern matches exactly the keys with the tag.
    assert redis_names.tenant_keys_pattern(TID) == "*{" + str(TID) + "}*"
    assert redis_names.tenant_keys_pattern(TENANT) == redis_names.tenant_keys_pattern(str(TID))


# --- nobody else spells a Redis name ---------------------------------------------------------------

# Literal prefixes of our Redis names (keys, groups, cache keys); a string or f-string in app code
# starting with one of them is a name built by hand.
NAME_PREFIXES = ("aam:", "dcl:", "events:", "llm:", "cache:", "dcl_engine:", "events.")
BUILDERS = {"tenant_key", "cache_key"}


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def hand_built_names(source: str, filename: str = "<source>") -> list[str]:
    """Where `source` spells a Redis name itself: a string literal (or f-string) starting with a
    name prefix, or a call of the key builders (`tenant_key(...)`). Docstrings are prose, not names."""
    tree = ast.parse(source, filename)
    docstrings = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            text = str(node.values[0].value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        if text is not None and text.startswith(NAME_PREFIXES):
            found.append(f"{filename}:{node.lineno}: {text!r}")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if name in BUILDERS and owner != "redis_names":
                found.append(f"{filename}:{node.lineno}: {name}(...)")
    return found


def _app_sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts or path == NAMES_MODULE:
                continue
            yield path


def test_no_module_but_redis_names_builds_a_redis_name():
    found = []
    for path in _app_sources():
        found += hand_built_names(path.read_text(), str(path.relative_to(ROOT)))
    # autonomos/core/redis.py is Django's KEY_FUNCTION: it hands over to redis_names.cache_key.
    found = [f for f in found if not f.startswith("autonomos/core/redis.py:") or "cache_key(...)" not in f]
    assert found == [], "Redis names built outside autonomos/core/redis_names.py:\n" + "\n".join(found)


@pytest.mark.parametrize("snippet", [
    'key = f"aam:synclock:{{{tenant.tenant_id}}}:{pk}"',
    'group = f"dcl_engine:{tenant.tenant_id}"',
    'r.get("dcl:applied:{x}")',
    'key = tenant_key(tenant, "aam", "dcl", 1)',
    'from autonomos.core import redis\nkey = redis.tenant_key(tenant, "events")',
])
def test_the_scan_catches_a_hand_built_name(snippet):
    assert hand_built_names(snippet) != []


def test_the_scan_lets_names_asked_of_redis_names_and_prose_pass():
    source = '"""Stream `aam:dcl:{<tenant_id>}:<id>`."""\nkey = redis_names.sync_stream(tenant, 1)\nx = "aamx"\n'
    assert hand_built_names(source) == []
