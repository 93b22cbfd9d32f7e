"""AOS Discover: find a tenant's data assets (through the external discovery service at
AOD_BASE_URL, or the built-in scanner over the tenant's own connections), classify them by risk
and hand what matters to the agents and the review queue."""
