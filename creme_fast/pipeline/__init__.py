"""Plans of mutants and the pipelined engine that predicts them."""
from creme_fast.pipeline.engine import DEFAULT_BATCH_SIZE, Engine, fit_engine, run_plan
from creme_fast.pipeline.plan import Plan, PlanBuilder, stream_keys
from creme_fast.pipeline.stats import PipelineStats

__all__ = ["DEFAULT_BATCH_SIZE", "Engine", "PipelineStats", "Plan", "PlanBuilder", "fit_engine",
           "run_plan", "stream_keys"]
