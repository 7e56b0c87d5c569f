"""Uplift: which customers does a retention action keep? Meta-learners on randomised campaign
data, and the Qini curve that evaluates them.

Here the uplift of a customer is the reduction of their churn probability that the action
brings: u(x) = P(churn | x, control) - P(churn | x, treated) (positive: the action keeps them).

* ``TwoModelUplift`` (T-learner): one classifier per arm, u(x) = mu_0(x) - mu_1(x).
* ``XLearnerUplift`` (Kunzel, Sekhon, Bickel & Yu 2019, "Metalearners for estimating
  heterogeneous treatment effects using machine learning", PNAS 116(10)): the arm models of the
  T-learner impute each customer's individual effect -- D1 = mu_0(x) - Y for the treated,
  D0 = Y - mu_1(x) for the controls (churn reductions) -- two regressions tau_1, tau_0 learn
  them, and u(x) = g tau_0(x) + (1 - g) tau_1(x) with g the (known, randomised) treatment share.

The learners are XGBoost (native categoricals through ``core.model_frame``), small and strongly
regularised: a campaign holds hundreds, not hundreds of thousands, of customers. causalml has
the same meta-learners but requires the full ``xgboost`` package (GPU libraries) and pins
scipy < 1.16, incompatible with this project's pins, so they are written here.

``qini_curve`` (Radcliffe 2007, "Using control groups to target on predicted lift", Direct
Marketing Analytics Journal): customers sorted by predicted uplift, at each cut k the
incremental customers kept, Q(k) = R_T(k) - R_C(k) N_T(k) / N_C(k), with R the customers kept
(not churned) and N the customers of each arm among the first k. ``qini_coefficient``: the area
between that curve and the straight line of random targeting, per customer (x = share
targeted, y = Q / N).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from customer_retention.core.model_frame import booster_from_json, booster_to_json, dmatrix

DEFAULT_BOOSTER = {
    "max_depth": 2,
    "learning_rate": 0.05,
    "min_child_weight": 5.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 5.0,
    "nthread": 2,
}


def _matrix(frame: pd.DataFrame, spec: dict[str, Any], label: np.ndarray | None = None):
    """The DMatrix of the model's features (other columns of ``frame`` ignored silently;
    a missing feature raises, naming it)."""
    used = [c for c in frame.columns if c in set(spec["features"])]
    return dmatrix(frame[used], spec, label)


def _fit(
    frame: pd.DataFrame, target: np.ndarray, spec: dict[str, Any], params: dict[str, Any]
) -> xgb.Booster:
    objective = "binary:logistic" if params["objective"] == "classify" else "reg:squarederror"
    booster = {
        "objective": objective,
        "tree_method": "hist",
        "seed": int(params["seed"]),
        **{k: v for k, v in params.items() if k not in ("objective", "seed", "rounds")},
    }
    return xgb.train(booster, _matrix(frame, spec, target), num_boost_round=int(params["rounds"]))


class TwoModelUplift:
    """T-learner: u(x) = mu_0(x) - mu_1(x), mu_a = P(churn | x, arm a) from one XGBoost
    classifier per arm. Fitted attributes: ``control_model_``, ``treated_model_``,
    ``spec_``."""

    learner = "t"
    MODELS = ("control_model_", "treated_model_")

    def __init__(self, rounds: int = 150, seed: int = 0, booster: dict | None = None) -> None:
        self.rounds = int(rounds)
        self.seed = int(seed)
        self.booster = {**DEFAULT_BOOSTER, **(booster or {})}

    def _params(self, objective: str) -> dict[str, Any]:
        return {**self.booster, "objective": objective, "seed": self.seed, "rounds": self.rounds}

    def fit(
        self, frame: pd.DataFrame, treated: np.ndarray, churned: np.ndarray, spec: dict[str, Any]
    ) -> TwoModelUplift:
        treated = np.asarray(treated, dtype=bool)
        churned = np.asarray(churned, dtype=float)
        self.spec_ = spec
        classify = self._params("classify")
        self.control_model_ = _fit(frame[~treated], churned[~treated], spec, classify)
        self.treated_model_ = _fit(frame[treated], churned[treated], spec, classify)
        return self

    def churn_if_untreated(self, frame: pd.DataFrame) -> np.ndarray:
        """mu_0(x): P(churn | x) without the action."""
        return self.control_model_.predict(_matrix(frame, self.spec_))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """u(x): the reduction of the churn probability the action brings."""
        data = _matrix(frame, self.spec_)
        return self.control_model_.predict(data) - self.treated_model_.predict(data)

    def to_json(self) -> str:
        return json.dumps(
            {
                "learner": self.learner,
                "rounds": self.rounds,
                "seed": self.seed,
                "booster": self.booster,
                "spec": self.spec_,
                **{name: booster_to_json(getattr(self, name)) for name in self.MODELS},
                **self._extra_state(),
            }
        )

    def _extra_state(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_json(cls, text: str) -> TwoModelUplift:
        state = json.loads(text)
        model = LEARNERS[state["learner"]](state["rounds"], state["seed"], state["booster"])
        model.spec_ = state["spec"]
        for name in model.MODELS:
            setattr(model, name, booster_from_json(state[name]))
        model._restore(state)
        return model

    def _restore(self, state: dict[str, Any]) -> None:
        return None


class XLearnerUplift(TwoModelUplift):
    """X-learner: the T-learner's arm models impute individual churn reductions, two XGBoost
    regressions learn them, and u(x) = g tau_0(x) + (1 - g) tau_1(x) (g = the treatment share
    of the training customers). Fitted attributes add ``tau_treated_``, ``tau_control_`` and
    ``treatment_share_``."""

    learner = "x"
    MODELS = (*TwoModelUplift.MODELS, "tau_treated_", "tau_control_")

    def fit(
        self, frame: pd.DataFrame, treated: np.ndarray, churned: np.ndarray, spec: dict[str, Any]
    ) -> XLearnerUplift:
        super().fit(frame, treated, churned, spec)
        treated = np.asarray(treated, dtype=bool)
        churned = np.asarray(churned, dtype=float)
        imputed_treated = self.churn_if_untreated(frame[treated]) - churned[treated]
        imputed_control = churned[~treated] - self.treated_model_.predict(
            _matrix(frame[~treated], spec)
        )
        regress = self._params("regress")
        self.tau_treated_ = _fit(frame[treated], imputed_treated, spec, regress)
        self.tau_control_ = _fit(frame[~treated], imputed_control, spec, regress)
        self.treatment_share_ = float(treated.mean())
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        data = _matrix(frame, self.spec_)
        g = self.treatment_share_
        return g * self.tau_control_.predict(data) + (1 - g) * self.tau_treated_.predict(data)

    def _extra_state(self) -> dict[str, Any]:
        return {"treatment_share_": self.treatment_share_}

    def _restore(self, state: dict[str, Any]) -> None:
        self.treatment_share_ = float(state["treatment_share_"])


LEARNERS = {"t": TwoModelUplift, "x": XLearnerUplift}


def qini_curve(uplift: np.ndarray, treated: np.ndarray, churned: np.ndarray) -> pd.DataFrame:
    """share targeted (0..1) and Q(k) / N -- the incremental customers kept among the treated
    customers of the first k, per customer of the population -- customers sorted by predicted
    uplift, highest first; (0, 0) first. With half the customers treated, Q(N) / N is half
    the average effect."""
    order = np.argsort(-np.asarray(uplift, dtype=float), kind="stable")
    treated = np.asarray(treated, dtype=bool)[order]
    kept = 1.0 - np.asarray(churned, dtype=float)[order]
    n_t, n_c = np.cumsum(treated), np.cumsum(~treated)
    kept_t, kept_c = np.cumsum(kept * treated), np.cumsum(kept * ~treated)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(n_c > 0, kept_t - kept_c * n_t / n_c, 0.0)
    n = len(order)
    return pd.DataFrame(
        {
            "share_targeted": np.concatenate([[0.0], np.arange(1, n + 1) / n]),
            "incremental_kept": np.concatenate([[0.0], gain / n]),
        }
    )


def qini_coefficient(curve: pd.DataFrame) -> float:
    """Area between the Qini curve and random targeting (the straight line to its end)."""
    x = curve["share_targeted"].to_numpy()
    y = curve["incremental_kept"].to_numpy()
    return float(np.trapezoid(y - x * y[-1], x))


def policy_value(
    targeted: np.ndarray, treated: np.ndarray, churned: np.ndarray, value: np.ndarray
) -> dict[str, Any]:
    """Incremental value of contacting the ``targeted`` customers, estimated on randomised data:
    among them, (value-weighted retention of the treated - of the controls) x their total
    value. Unbiased because the arm was assigned at random within every targeted set."""
    targeted = np.asarray(targeted, dtype=bool)
    treated = np.asarray(treated, dtype=bool)
    kept = 1.0 - np.asarray(churned, dtype=float)
    value = np.asarray(value, dtype=float)
    arms = targeted & treated, targeted & ~treated
    if min(a.sum() for a in arms) == 0:
        return {"customers": int(targeted.sum()), "incremental_value": None}
    rate = [float(np.average(kept[a], weights=value[a])) for a in arms]
    lift = rate[0] - rate[1]
    return {
        "customers": int(targeted.sum()),
        "retention_treated": rate[0],
        "retention_control": rate[1],
        "incremental_value": lift * float(value[targeted].sum()),
        "incremental_value_per_customer": lift * float(value[targeted].mean()),
    }
