"""Customer lifetime value, value at risk and the retention budget plan."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
