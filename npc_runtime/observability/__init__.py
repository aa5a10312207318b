"""Structured logs and Prometheus metrics: a small API the host calls (see metrics.Metrics)."""

from .logs import JsonFormatter, setup_logging
from .metrics import Metrics

__all__ = ["JsonFormatter", "Metrics", "setup_logging"]
