"""Point-in-time snapshots: features strictly before each snapshot date, churn labels after it."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
