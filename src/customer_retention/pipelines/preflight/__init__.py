"""Pre-flight: what this run will do with these data, before the heavy steps."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
