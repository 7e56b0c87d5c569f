"""Monthly retention KPIs, MRR movements, NPS, cohorts, exit reasons and the health score."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
