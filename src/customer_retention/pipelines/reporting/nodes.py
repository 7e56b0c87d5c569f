"""The reviewer's report: one self-contained HTML file built from the other stages' outputs.

Each ``build_*_section`` node (one module per section) turns one stage's outputs into a
template context (numbers already formatted, tables as rows of strings, one computed takeaway
per chart) and the section's charts. A section whose inputs are absent (no feedback table, no
scoring run yet, no drift check) carries a message saying so instead of failing.
``summarise_report_headlines`` compares the headline numbers with the previous run's
``report_summary.json``; ``encode_report_charts`` draws each figure once into PNG bytes, for the
HTML's data URIs and the versioned PNG files; ``render_report`` fills
``templates/report.html.j2``.
"""

from .render import encode_report_charts, render_report
from .section_campaigns import build_campaign_section
from .section_feedback import build_feedback_section
from .section_model import build_model_section
from .section_retention import build_retention_section
from .section_run import build_run_section
from .section_summary import summarise_report_headlines
from .section_survival import build_survival_section, ph_note
from .section_value import build_value_section

__all__ = [
    "build_campaign_section",
    "build_feedback_section",
    "build_model_section",
    "build_retention_section",
    "build_run_section",
    "build_survival_section",
    "build_value_section",
    "encode_report_charts",
    "ph_note",
    "render_report",
    "summarise_report_headlines",
]
