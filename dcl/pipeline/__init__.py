"""The pipeline run's owner (run.py) and its stages as modules: read.py (read → normalize →
publish, aam's sync), consume.py (streams → DuckDB), materialize.py (views → PostgreSQL)."""

from .info import PipelineStepFailed, RunInfo, StepInfo
from .run import SyncRun, pipeline_run

__all__ = ["PipelineStepFailed", "RunInfo", "StepInfo", "SyncRun", "pipeline_run"]
