"""Typed parsing, validation, deduplication and quarantine of the raw tables."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
