"""AAM ingestion: source pages → canonical, typed, columnar batches → the tenant's Redis Stream.

The hot path is columnar (Arrow): a page is normalized with vectorized casts, never record by
record; pydantic models (events.py) describe the contract and are built on demand (quarantine,
API, tests), not for every record.
"""
