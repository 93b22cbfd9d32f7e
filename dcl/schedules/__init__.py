"""Per-connection schedules (django-celery-beat) and freshness: `spec` parses and checks a schedule,
`services` writes its PeriodicTask, `runs` records runs and holds the scheduled run's rules (skip
when a run is going, retry with backoff, alert), `selectors` reads schedule, next run, freshness and
runs. docs/adr/0017-schedules-and-freshness.md."""
