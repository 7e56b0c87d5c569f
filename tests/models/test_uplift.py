"""Uplift meta-learners and the Qini curve on synthetic randomised data with a known effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from customer_retention.core.model_frame import build_feature_spec
from customer_retention.models import uplift


def _campaign(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Randomised campaign: the action cuts churn by 15 points for segment "a", nothing for
    "b" and adds 10 points for "c" (sleeping dogs); "b" and "c" have the highest risk."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["a", "b", "c"], n, p=[0.4, 0.45, 0.15])
    noise = rng.normal(size=n)
    base = np.select([segment == "a", segment == "b"], [0.25, 0.35], 0.35)
    effect = np.select([segment == "a", segment == "b"], [0.15, 0.0], -0.10)  # churn reduction
    treated = rng.random(n) < 0.5
    churned = (rng.random(n) < base - treated * effect).astype(float)
    frame = pd.DataFrame(
        {"customer_id": np.arange(n).astype(str), "segment": segment, "noise": noise}
    )
    return frame, treated, churned, effect


@pytest.mark.parametrize("learner", ["x", "t"])
def test_learners_recover_who_the_action_keeps(learner):
    frame, treated, churned, effect = _campaign(6000, 0)
    spec = build_feature_spec(frame)
    model = uplift.LEARNERS[learner](rounds=100, seed=0).fit(frame, treated, churned, spec)
    test, t_test, c_test, e_test = _campaign(3000, 1)
    predicted = model.predict(test)
    by_segment = pd.Series(predicted).groupby(test["segment"]).mean()
    assert by_segment["a"] == pytest.approx(0.15, abs=0.04)
    assert by_segment["b"] == pytest.approx(0.0, abs=0.04)
    assert by_segment["c"] == pytest.approx(-0.10, abs=0.06)
    assert stats.spearmanr(predicted, e_test).statistic > 0.6
    reloaded = uplift.TwoModelUplift.from_json(model.to_json())
    np.testing.assert_array_equal(reloaded.predict(test), predicted)
    # Held-out Qini: the model's ranking beats random targeting and the ranking by risk.
    qini = uplift.qini_coefficient(uplift.qini_curve(predicted, t_test, c_test))
    risk = uplift.qini_coefficient(
        uplift.qini_curve(model.churn_if_untreated(test), t_test, c_test)
    )
    assert qini > 0.01 and qini > risk


def test_qini_curve_of_a_perfect_and_of_a_random_ranking():
    frame, treated, churned, effect = _campaign(20000, 2)
    perfect = uplift.qini_curve(effect, treated, churned)
    random = uplift.qini_curve(np.random.default_rng(3).random(len(effect)), treated, churned)
    assert perfect["share_targeted"].iloc[0] == 0 and perfect["share_targeted"].iloc[-1] == 1
    # Both curves end at the same point: the whole population's incremental customers kept.
    assert perfect["incremental_kept"].iloc[-1] == pytest.approx(
        random["incremental_kept"].iloc[-1]
    )
    assert uplift.qini_coefficient(perfect) > 0.01
    assert abs(uplift.qini_coefficient(random)) < 0.005
    # The top 40% by true effect are segment "a": 15 points kept per treated customer there,
    # and half of them were treated (Radcliffe's Q counts the treated group's gain).
    at_40 = perfect.loc[(perfect["share_targeted"] - 0.4).abs().idxmin(), "incremental_kept"]
    assert at_40 == pytest.approx(0.4 * 0.5 * 0.15, abs=0.008)


def test_policy_value_is_the_arms_difference_among_the_targeted():
    treated = np.array([True, True, False, False, True, False])
    churned = np.array([0, 0, 1, 0, 1, 1])
    targeted = np.array([True, True, True, True, False, False])
    value = np.array([100.0, 100.0, 100.0, 100.0, 1.0, 1.0])
    result = uplift.policy_value(targeted, treated, churned, value)
    assert result["retention_treated"] == 1.0 and result["retention_control"] == 0.5
    assert result["incremental_value"] == pytest.approx(0.5 * 400)
