"""Scoring: the promoted churn model on the as-of snapshot, without retraining."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
