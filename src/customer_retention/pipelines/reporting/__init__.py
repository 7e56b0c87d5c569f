"""Reporting: the reviewer's self-contained HTML report and its versioned charts."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
