"""Connector kinds, one folder each (docs/connectors.md, "Adding a connector kind").

`connectors/kinds/<name>/__init__.py` exposes `KIND`, a `base.KindSpec`: the driver, the config and
secrets models, how the dashboard presents it, its routing domain and, for HTTP kinds, the local
test server that speaks the vendor's API. `connectors.registry.KINDS` lists the folders; nothing
else in the code base names a kind to decide how to handle it.
"""
