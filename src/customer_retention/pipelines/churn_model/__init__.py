"""Gradient-boosted churn model: temporal split, calibration, evaluation, promotion."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
