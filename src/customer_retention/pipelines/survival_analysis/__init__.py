"""Time to churn: Kaplan-Meier, Cox PH, Weibull AFT, a landmark model and a boosted AFT model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
