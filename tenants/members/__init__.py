"""Who a tenant's user is inside the tenant: their role and their token version.

A separate app from `tenants` because it lives in every tenant's schema (TENANT_APPS), beside the
users it describes, while `tenants` (the registry) lives in the public schema only.
"""
