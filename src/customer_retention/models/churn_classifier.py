"""The two churn-model candidates behind one interface: a gradient-boosted XGBoost booster and an
L2 logistic regression, both stored as plain JSON (no pickle).

Every function here takes the model and the feature spec of ``core.model_frame`` (feature list,
dtypes, training levels) and works on the snapshot rows:

* ``predict_raw``: the model's probability of churn within the horizon, before calibration;
* ``contributions``: each feature's additive share of the customer's log-odds (rows x features),
  what the churn reasons and the feature importance read;
* ``model_to_json`` / ``model_from_json``: the model file of the promoted store.

Contributions of the logistic regression are its exact SHAP values under independent features
(Lundberg & Lee 2017, "A unified approach to interpreting model predictions", NeurIPS, linear
case): phi_j = w_j (z_j - E[z_j]), E over the training rows; a one-hot attribute's contribution
is the sum over its levels and a numeric column's includes its missing indicator. For the booster
they are TreeSHAP (exact) or Saabas (``approximate=True``) from XGBoost's ``pred_contribs``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from customer_retention.core.model_frame import (
    booster_from_json,
    booster_to_json,
    dmatrix,
    feature_array,
    model_matrix,
)

KINDS = ("xgboost", "logistic")
MISSING_LEVEL = "missing"


class LogisticChurnClassifier:
    """L2-penalised logistic regression on the churn features.

    logit P(churn | x) = b + sum_j w_j z_j, where z holds the numeric features imputed with the
    training median, a missing indicator for each numeric column with blanks in training, both
    standardised with the training mean and standard deviation (a constant column keeps scale
    1), and one column per training level of each categorical feature (blank = a level
    ``missing``; a level unseen in training = all zeros). The coefficients are those of
    scikit-learn's ``LogisticRegression(C, max_iter)`` (lbfgs) on that matrix.

    Fitted attributes: ``numeric_``, ``medians_``, ``indicators_``, ``mean_``, ``scale_``,
    ``levels_``, ``coef_``, ``intercept_`` and ``design_mean_`` (the mean of each design
    column over the training rows, the baseline of the contributions).
    """

    kind = "logistic"

    def __init__(self, C: float = 1.0, max_iter: int = 2000) -> None:
        self.C = float(C)
        self.max_iter = int(max_iter)

    # ------------------------------------------------------------------ design matrix
    def _imputed(self, matrix: pd.DataFrame) -> np.ndarray:
        """The numeric columns imputed with the training medians, then the missing
        indicators: the numeric block before standardisation."""
        if not self.numeric_:
            return np.empty((len(matrix), 0))
        values = matrix[self.numeric_].to_numpy(dtype=float)
        missing = np.isnan(values)
        imputed = np.where(missing, np.asarray(self.medians_)[None, :], values)
        position = {c: i for i, c in enumerate(self.numeric_)}
        flags = [missing[:, position[c]].astype(float) for c in self.indicators_]
        return np.column_stack([imputed, *flags]) if flags else imputed

    def _numeric_block(self, matrix: pd.DataFrame) -> np.ndarray:
        block = self._imputed(matrix)
        if not block.shape[1]:
            return block
        return (block - np.asarray(self.mean_)[None, :]) / np.asarray(self.scale_)[None, :]

    def _one_hot(self, matrix: pd.DataFrame) -> list[np.ndarray]:
        blocks = []
        for column, levels in self.levels_.items():
            values = matrix[column].astype(object).where(matrix[column].notna(), MISSING_LEVEL)
            codes = pd.Categorical(values.astype(str), categories=levels).codes
            block = np.zeros((len(matrix), len(levels)))
            seen = codes >= 0
            block[np.flatnonzero(seen), codes[seen]] = 1.0
            blocks.append(block)
        return blocks

    def _design(self, frame: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
        matrix = model_matrix(frame, spec, log_unseen=False)
        return np.column_stack([self._numeric_block(matrix), *self._one_hot(matrix)])

    def _groups(self) -> list[int]:
        """For each design column, the position of its feature in ``features_``."""
        position = {c: i for i, c in enumerate(self.features_)}
        groups = [position[c] for c in self.numeric_]
        groups += [position[c] for c in self.indicators_]
        for column, levels in self.levels_.items():
            groups += [position[column]] * len(levels)
        return groups

    # ------------------------------------------------------------------ fit / predict
    def fit(
        self, frame: pd.DataFrame, y: np.ndarray | pd.Series, spec: dict[str, Any]
    ) -> LogisticChurnClassifier:
        """Fit on the training rows ``frame`` with labels ``y`` (0/1). Returns self."""
        matrix = model_matrix(frame, spec, log_unseen=False)
        self.features_ = list(spec["features"])
        categorical = [c for c in self.features_ if c in spec["categorical_levels"]]
        values = {
            c: matrix[c].to_numpy(dtype=float) for c in self.features_ if c not in categorical
        }
        # A column blank in every training row carries nothing (scikit-learn's imputer drops it).
        self.numeric_ = [c for c, v in values.items() if not np.isnan(v).all()]
        self.medians_ = [float(np.nanmedian(values[c])) for c in self.numeric_]
        self.indicators_ = [c for c in self.numeric_ if np.isnan(values[c]).any()]
        self.levels_ = {
            c: sorted(
                set(matrix[c].astype(object).where(matrix[c].notna(), MISSING_LEVEL).astype(str))
            )
            for c in categorical
        }
        block = self._imputed(matrix)
        self.mean_ = [float(v) for v in block.mean(axis=0)]
        self.scale_ = [float(v) if v > 0 else 1.0 for v in block.std(axis=0)]
        design = np.column_stack([self._numeric_block(matrix), *self._one_hot(matrix)])
        model = LogisticRegression(C=self.C, max_iter=self.max_iter)
        model.fit(design, np.asarray(y, dtype=int))
        self.coef_ = [float(v) for v in model.coef_[0]]
        self.intercept_ = float(model.intercept_[0])
        self.design_mean_ = [float(v) for v in design.mean(axis=0)]
        return self

    def decision_function(self, frame: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
        """The log-odds b + sum_j w_j z_j."""
        return self._design(frame, spec) @ np.asarray(self.coef_) + self.intercept_

    def predict_proba(self, frame: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
        """P(churn within the horizon): 1 / (1 + exp(-log-odds))."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(frame, spec)))

    def contributions(self, frame: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
        """phi_j = sum over feature j's design columns of w_k (z_k - mean_k); rows x features."""
        centred = self._design(frame, spec) - np.asarray(self.design_mean_)[None, :]
        terms = centred * np.asarray(self.coef_)[None, :]
        result = np.zeros((len(frame), len(self.features_)))
        np.add.at(result.T, np.asarray(self._groups(), dtype=int), terms.T)
        return result

    # ------------------------------------------------------------------ JSON
    _STATE = (
        "C",
        "max_iter",
        "features_",
        "numeric_",
        "medians_",
        "indicators_",
        "mean_",
        "scale_",
        "levels_",
        "coef_",
        "intercept_",
        "design_mean_",
    )

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **{k: getattr(self, k) for k in self._STATE}})

    @classmethod
    def from_json(cls, text: str | bytes) -> LogisticChurnClassifier:
        state = json.loads(text)
        model = cls(state["C"], state["max_iter"])
        for key in cls._STATE:
            setattr(model, key, state[key])
        return model


ChurnClassifier = xgb.Booster | LogisticChurnClassifier


def model_kind(model: ChurnClassifier | str) -> str:
    """``xgboost`` or ``logistic``."""
    if isinstance(model, LogisticChurnClassifier):
        return "logistic"
    return "xgboost"


def predict_raw(
    model: ChurnClassifier | str, frame: pd.DataFrame | np.ndarray, spec: dict[str, Any]
) -> np.ndarray:
    """Uncalibrated P(churn within the horizon) of each row (a booster also takes the
    ``feature_array`` of the rows)."""
    if isinstance(model, LogisticChurnClassifier):
        return model.predict_proba(frame, spec)
    booster = booster_from_json(model)
    array = frame if isinstance(frame, np.ndarray) else feature_array(frame, spec)
    return booster.inplace_predict(array)


def contributions(
    model: ChurnClassifier | str,
    frame: pd.DataFrame | np.ndarray,
    spec: dict[str, Any],
    approximate: bool = False,
) -> np.ndarray:
    """Each feature's share of each row's log-odds (rows x features, the bias left out)."""
    if isinstance(model, LogisticChurnClassifier):
        return model.contributions(frame, spec)
    booster = booster_from_json(model)
    values = booster.predict(
        dmatrix(frame, spec), pred_contribs=True, approx_contribs=bool(approximate)
    )
    return values[:, :-1]


def model_to_json(model: ChurnClassifier | str) -> str:
    """The model file's text: XGBoost's JSON model format, or the logistic model's state."""
    if isinstance(model, LogisticChurnClassifier):
        return model.to_json()
    if isinstance(model, xgb.Booster):
        return booster_to_json(model)
    return model.decode("utf-8") if isinstance(model, bytes | bytearray) else str(model)


def model_from_json(text: str | bytes, kind: str = "xgboost") -> ChurnClassifier:
    """The model from its file's text; ``kind`` from the model's metadata (``model_kind``)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown churn model kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "logistic":
        return LogisticChurnClassifier.from_json(text)
    return booster_from_json(text)


def training_churn_rate(metadata: dict[str, Any]) -> float | None:
    """The churn rate within the horizon of the rows the model was trained on (its data
    fingerprint), else of its calibration rows; None when the metadata hold neither."""
    rate = ((metadata.get("data_fingerprint") or {}).get("label_rate") or {}).get("train")
    if rate is not None:
        return float(rate)
    calibration = metadata.get("calibration") or {}
    if calibration.get("rows"):
        return float(calibration.get("positives", 0)) / float(calibration["rows"])
    return None


def mean_probability_check(
    mean: float | None, metadata: dict[str, Any], max_ratio: float | None
) -> dict[str, Any]:
    """The mean predicted churn probability ``mean`` against the training churn rate: ``ok`` unless
    their ratio leaves [1 / max_ratio, max_ratio] -- a sign that the scored customers are not
    those the model knows (another business, a broken feature, a unit change) or that the
    churn rate moved far since training. ``max_ratio`` None: no check."""
    mean = float("nan") if mean is None else float(mean)
    rate = training_churn_rate(metadata)
    result = {"mean_probability": mean, "training_churn_rate": rate, "max_ratio": max_ratio}
    if max_ratio is None or rate is None or not rate > 0 or not np.isfinite(mean):
        return result | {"status": "not checked", "ratio": None}
    ratio = mean / rate
    ok = 1 / float(max_ratio) <= ratio <= float(max_ratio)
    return result | {"status": "ok" if ok else "implausible", "ratio": ratio}
