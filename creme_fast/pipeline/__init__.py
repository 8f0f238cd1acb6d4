"""Plans of mutants and the pipelined engine that predicts them."""
from creme_fast.pipeline.engine import PipelineStats, run_plan
from creme_fast.pipeline.plan import Plan, PlanBuilder, stream_keys

__all__ = ["PipelineStats", "Plan", "PlanBuilder", "run_plan", "stream_keys"]
