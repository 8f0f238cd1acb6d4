"""Multi-locus runs over a genome: ``creme-fast run``."""
from creme_fast.runs.distributed import RayExecutor
from creme_fast.runs.executor import ChunkResult, ChunkTask, Executor, LocalExecutor
from creme_fast.runs.runner import RunOutcome, RunRequest, locus_key, run_over_genome
from creme_fast.runs.steps import STEPS, StepConfig

__all__ = ["STEPS", "ChunkResult", "ChunkTask", "Executor", "LocalExecutor", "RayExecutor",
           "RunOutcome", "RunRequest", "StepConfig", "locus_key", "run_over_genome"]
