"""Gradient-boosted churn model: split by time, train, calibrate, evaluate honestly, backtest,
refit the chosen candidate on recent data, promote, describe.

0. ``join_latest_theme`` (``core.comment_themes``): the theme of each snapshot row's latest
   comment before its date, from the feedback themes stage, when it found themes.
   ``mask_treated_labels``: labels that a retention action changed are masked (treatment arm,
   label window past the treatment date): the model predicts churn if nothing is done.
1. ``split_snapshots``: labelled snapshot rows -> train (the snapshots whose labels are known
   by the last labelled snapshot), valid (held-out customers of the latest training snapshot),
   test (the last labelled snapshot). Never random across snapshots; with too few labelled
   snapshots, a customer-grouped stratified random split (said so in metrics).
2. ``train_churn_model``: XGBoost (``tree_method="hist"``, native categoricals), class imbalance
   weighted by ``scale_pos_weight``, early stopping on the held-out rows by a ranking metric
   (AUC is unaffected by the weighting, log loss is not).
3. ``calibrate_churn_model``: ``scale_pos_weight`` inflates the raw probabilities (their
   log-odds shift by about log(scale_pos_weight)); a Platt or isotonic map fitted on the
   held-out rows turns them back into probabilities.
4. ``score_benchmarks`` / ``evaluate_scorers``: every scorer on the same test rows -- XGBoost
   raw and calibrated, a logistic-regression baseline, the health score, the demo data's oracle,
   the survival stage's Cox risk and the CLV stage's BG/NBD.
5. ``backtest_candidates``: both candidates at several cutoffs (rolling origin) and the choice
   between them (the simpler unless the other wins by more than the backtest noise).
6. ``refit_churn_model``: the chosen candidate refitted on every labelled snapshot.
7. ``describe_churn_model`` / ``promote_churn_model``: metadata of the refit and the
   champion/challenger decision on the shared backtest cutoffs.
8. ``measure_lead_time`` / ``write_model_card``: how early the warning comes; the model card.

One module per step; this module is the index of the nodes.
"""

from customer_retention.core.comment_themes import join_latest_theme

from .backtest import backtest_candidates
from .benchmarks import evaluate_scorers, score_benchmarks
from .evaluation import (
    compute_feature_importance,
    plot_churn_model_evaluation,
    plot_feature_importance,
)
from .lead_time import measure_lead_time
from .model_card import write_model_card
from .promotion import describe_churn_model, promote_churn_model
from .refit import refit_churn_model
from .split import define_model_features, split_snapshots
from .train import calibrate_churn_model, predict_test_snapshot, train_churn_model
from .treatment import mask_treated_labels

__all__ = [
    "backtest_candidates",
    "calibrate_churn_model",
    "compute_feature_importance",
    "define_model_features",
    "describe_churn_model",
    "evaluate_scorers",
    "join_latest_theme",
    "mask_treated_labels",
    "measure_lead_time",
    "plot_churn_model_evaluation",
    "plot_feature_importance",
    "predict_test_snapshot",
    "promote_churn_model",
    "refit_churn_model",
    "score_benchmarks",
    "split_snapshots",
    "train_churn_model",
    "write_model_card",
]
