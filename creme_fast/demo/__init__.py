"""The demo: every CREME test on the synthetic model, checked against the truth."""
from creme_fast.demo.run import DemoResult, DemoSettings, run_demo

__all__ = ["DemoResult", "DemoSettings", "run_demo"]
