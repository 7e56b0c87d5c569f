"""Probability calibration stored as plain JSON (no pickle).

* ``isotonic``: a non-decreasing step-wise linear map fitted by isotonic regression; stored as
  its thresholds (``x``, ``y``) and applied with linear interpolation, clipped at both ends --
  the same function scikit-learn's ``IsotonicRegression(out_of_bounds="clip")`` predicts.
* ``platt``: a logistic regression on the log-odds of the raw probability,
  p = 1 / (1 + exp(-(a * logit(raw) + b))); stored as ``a`` and ``b``. With ``scale_pos_weight``
  the raw log-odds are shifted by about log(scale_pos_weight), which Platt undoes exactly.

Both are monotone, so the ranking of customers does not change (isotonic can merge scores into
ties on its flat steps, which can move ROC-AUC slightly).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

EPSILON = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str = "isotonic") -> dict[str, Any]:
    """Fit a calibration map from raw probabilities to observed outcomes; JSON-ready dict."""
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=float)
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
        return {
            "method": "isotonic",
            "x": [float(v) for v in iso.X_thresholds_],
            "y": [float(v) for v in iso.y_thresholds_],
        }
    if method == "platt":
        model = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(raw)[:, None], y)
        return {"method": "platt", "a": float(model.coef_[0, 0]), "b": float(model.intercept_[0])}
    raise ValueError(f"Calibration method must be 'isotonic' or 'platt', got {method!r}")


def apply_calibrator(calibrator: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    """Calibrated probabilities for raw probabilities ``raw``."""
    raw = np.asarray(raw, dtype=float)
    method = calibrator["method"]
    if method == "isotonic":
        return np.interp(raw, calibrator["x"], calibrator["y"])
    if method == "platt":
        return 1.0 / (1.0 + np.exp(-(calibrator["a"] * _logit(raw) + calibrator["b"])))
    if method == "identity":
        return raw
    raise ValueError(f"Unknown calibration method {method!r}")
