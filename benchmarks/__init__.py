"""Benchmarks and test scenarios of AutonomOS: measuring code, not product code (issue #15).

Not a Django app: nothing here is installed, migrated or imported by the product at run time. The
apps keep thin `manage.py` entry points that import from here when run, with the same arguments and
output as before:

| command | benchmark |
|---|---|
| `bench_ingest` (dcl) | `benchmarks/ingest.py`: the whole pipeline, producer and consumer processes |
| `bench_api` (dcl) | `benchmarks/api.py`, load from `benchmarks/api_load.py` when wrk is missing |
| `bench_csv` (connectors) | `benchmarks/csv_read.py`: the filesource CSV reader |
| `bench_drift` (aam) | `benchmarks/drift.py` over `benchmarks/drift_scenarios.py` (also the drift tests' scenarios) |
| `map_schema --eval` (aam) | `benchmarks/mapping.py`: scoring the mapping engine on case files |
| `agents_benchmark` (agents) | `benchmarks/agents.py`: the pilots over synthetic rows |
| `agents_benchmark --revops-tenant` | `benchmarks/revops_tenant.py`: the RevOps run over N deals with history |
| `eval_er` (dcl) | `benchmarks/er_eval.py`: entity resolution on labelled lists, through the real path |
| `bench_er` (dcl) | `benchmarks/er_bench.py`: entity resolution timed on synthetic duplicates |

`er_scoring.py` scores both (pairwise P/R/F1); `er_demo.py` holds the demo's known duplicates.

Benchmarks sit above every app: they may import any of them, and no app imports them except from
those management commands.
"""
