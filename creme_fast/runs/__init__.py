"""Multi-locus runs over a genome: ``creme-fast run``."""
from creme_fast.runs.distributed import RayExecutor
from creme_fast.runs.executor import ChunkResult, ChunkTask, Executor, LocalExecutor
from creme_fast.runs.merge import MergeOutcome, merge_runs
from creme_fast.runs.runner import RunOutcome, RunRequest, locus_key, run_over_genome
from creme_fast.assays.spec import StepConfig

__all__ = ["ChunkResult", "ChunkTask", "Executor", "LocalExecutor", "MergeOutcome",
           "RayExecutor", "RunOutcome", "RunRequest", "StepConfig", "locus_key", "merge_runs",
           "run_over_genome"]
