"""What customers say: themes in exit comments and survey verbatims, and churn by theme."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
