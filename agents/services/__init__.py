"""Writes of the agents app (AOA jobs, agent runs, discovery). The contract names
(`connect_job_start`, `agents_run`) are importable from here."""

from .connect import connect_job_execute
from .jobs import (
    JobBusy,
    JobCancelled,
    JobConflict,
    TooManyJobs,
    agents_job_start,
    connect_job_start,
    job_cancel,
    job_claim,
    job_create,
    job_finish,
    job_progress_set,
    job_reap_stale,
)
from .runs import agents_job_execute, agents_run, agents_validate

__all__ = [
    "JobBusy",
    "JobCancelled",
    "JobConflict",
    "TooManyJobs",
    "agents_job_execute",
    "agents_job_start",
    "agents_run",
    "agents_validate",
    "connect_job_execute",
    "connect_job_start",
    "job_cancel",
    "job_claim",
    "job_create",
    "job_finish",
    "job_progress_set",
    "job_reap_stale",
]
