"""Character tests for designers: ``npc-runtime eval SUITE.yaml`` (docs/evals.md)."""

from .run import ScenarioResult, SuiteResult, TurnResult, run_suite
from .suite import Scenario, Suite, load_suite

__all__ = ["Scenario", "ScenarioResult", "Suite", "SuiteResult", "TurnResult", "load_suite", "run_suite"]
