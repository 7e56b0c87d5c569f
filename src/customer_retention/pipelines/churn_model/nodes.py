"""Gradient-boosted churn model: split by time, train, calibrate, evaluate honestly, promote.

1. ``split_snapshots``: labelled snapshot rows -> train (earlier snapshots), valid (the next),
   test (the last labelled snapshot). Never random across snapshots; with fewer labelled
   snapshots than that needs, a customer-grouped stratified random split (said so in metrics).
2. ``train_churn_model``: XGBoost (``tree_method="hist"``, native categoricals), class imbalance
   weighted by ``scale_pos_weight``, early stopping on the validation snapshot by a ranking
   metric (AUC is unaffected by the weighting, log loss is not).
3. ``calibrate_churn_model``: ``scale_pos_weight`` inflates the raw probabilities (their
   log-odds shift by about log(scale_pos_weight)); a Platt or isotonic map fitted on the
   validation snapshot turns them back into probabilities.
4. ``score_benchmarks`` / ``evaluate_scorers``: every scorer on the same test rows -- XGBoost
   raw and calibrated, a logistic-regression baseline, the health score, the demo data's oracle
   and (later) the survival stage's Cox risk.
5. ``describe_churn_model`` / ``promote_churn_model``: metadata for the versioned artifacts and
   the champion/challenger decision.

One module per step (``split``, ``train``, ``benchmarks``, ``evaluation``, ``promotion``); this
module is the index of the nodes.
"""

from .benchmarks import evaluate_scorers, score_benchmarks
from .evaluation import (
    compute_feature_importance,
    plot_churn_model_evaluation,
    plot_feature_importance,
)
from .promotion import describe_churn_model, promote_churn_model
from .split import define_model_features, split_snapshots
from .train import calibrate_churn_model, predict_test_snapshot, train_churn_model

__all__ = [
    "calibrate_churn_model",
    "compute_feature_importance",
    "define_model_features",
    "describe_churn_model",
    "evaluate_scorers",
    "plot_churn_model_evaluation",
    "plot_feature_importance",
    "predict_test_snapshot",
    "promote_churn_model",
    "score_benchmarks",
    "split_snapshots",
    "train_churn_model",
]
