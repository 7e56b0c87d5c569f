"""Did our retention actions work? Campaigns against their control groups."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
