"""Every chart of the project, the report's and the stages' versioned PNGs: one consistent, readable style.

Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), 12 pt text at
the size the report shows them, people-formatted axes (%, thousands, money) and no label that
can overlap another (long category names are wrapped, date ticks thinned). Every function takes
a small prepared table and returns a :class:`matplotlib.figure.Figure` (no pyplot state).
"""

from .model import (
    backtest_lines,
    calibration_curves,
    driver_bars,
    gains_chart,
    precision_recall_curves,
    qini_curves,
    roc_curves,
)
from .monitoring import drift_bars
from .retention import (
    cohort_heatmap,
    exit_reasons_pareto,
    health_band_churn,
    health_histogram,
    monthly_churn,
    nps_trend,
    support_bands,
    theme_churn,
)
from .style import PALETTE, STYLE, money_formatter, note
from .survival import hazard_forest, kaplan_meier_grid, landmark_check
from .value import (
    budget_comparison,
    clv_histogram,
    conditional_expectations,
    purchase_tracking,
    sbg_fit,
    value_at_risk_bars,
)

__all__ = [
    "PALETTE",
    "STYLE",
    "backtest_lines",
    "budget_comparison",
    "calibration_curves",
    "clv_histogram",
    "cohort_heatmap",
    "conditional_expectations",
    "drift_bars",
    "driver_bars",
    "exit_reasons_pareto",
    "gains_chart",
    "hazard_forest",
    "health_band_churn",
    "health_histogram",
    "kaplan_meier_grid",
    "landmark_check",
    "money_formatter",
    "monthly_churn",
    "note",
    "nps_trend",
    "precision_recall_curves",
    "purchase_tracking",
    "qini_curves",
    "roc_curves",
    "sbg_fit",
    "support_bands",
    "theme_churn",
    "value_at_risk_bars",
]
