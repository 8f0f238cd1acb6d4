"""Multi-locus runs over a genome: ``creme-fast run``."""
from creme_fast.runs.runner import RunOutcome, RunRequest, locus_key, run_over_genome
from creme_fast.runs.steps import STEPS, StepConfig

__all__ = ["RunOutcome", "RunRequest", "STEPS", "StepConfig", "locus_key", "run_over_genome"]
