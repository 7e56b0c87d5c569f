"""Monitoring: feature and score drift of the promoted churn model, retraining recommendation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
