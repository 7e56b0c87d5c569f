"""Time to churn: Kaplan-Meier, Cox PH, Weibull AFT and a landmark model (lifelines)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
