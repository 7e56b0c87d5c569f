"""Churn model: split by time, train XGBoost, calibrate, evaluate every scorer; backtest both
candidates, refit the chosen one on every labelled snapshot, promote, write the model card."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.join_latest_theme,
                inputs=["customer_snapshots", "latest_theme_features"],
                outputs="churn_candidate_snapshots",
                name="join_latest_theme",
            ),
            node(
                nodes.mask_treated_labels,
                inputs=[
                    "churn_candidate_snapshots",
                    "interventions@pandas",
                    "params:churn_model.horizon_days",
                ],
                outputs=["churn_model_snapshots", "churn_treated_labels"],
                name="mask_treated_labels",
            ),
            node(
                nodes.split_snapshots,
                inputs=[
                    "churn_model_snapshots",
                    "params:churn_model",
                    "params:churn_model.horizon_days",
                ],
                outputs=["churn_model_input", "churn_split_info"],
                name="split_snapshots",
            ),
            node(
                nodes.define_model_features,
                inputs=["churn_model_input", "params:churn_model"],
                outputs="churn_feature_spec",
                name="define_model_features",
            ),
            node(
                nodes.train_churn_model,
                inputs=["churn_model_input", "churn_feature_spec", "params:churn_model"],
                outputs=["churn_evaluation_booster", "churn_training_summary"],
                name="train_churn_model",
            ),
            node(
                nodes.calibrate_churn_model,
                inputs=[
                    "churn_evaluation_booster",
                    "churn_model_input",
                    "churn_feature_spec",
                    "params:churn_model",
                ],
                outputs="churn_evaluation_calibrator",
                name="calibrate_churn_model",
            ),
            node(
                nodes.predict_test_snapshot,
                inputs=[
                    "churn_evaluation_booster",
                    "churn_evaluation_calibrator",
                    "churn_model_input",
                    "churn_feature_spec",
                ],
                outputs="churn_test_predictions",
                name="predict_test_snapshot",
            ),
            node(
                nodes.score_benchmarks,
                inputs=[
                    "churn_test_predictions",
                    "churn_model_input",
                    "churn_feature_spec",
                    "customer_health",
                    "churn_model_ground_truth",
                    "cox_risk_scores",  # optional: written by the survival stage, when it exists
                    "bg_nbd_risk_scores",  # optional: written by the CLV stage (purchase data)
                    "params:churn_model.horizon_days",
                    "params:churn_model",
                ],
                outputs="churn_test_scores",
                name="score_benchmarks",
            ),
            node(
                nodes.evaluate_scorers,
                inputs=[
                    "churn_test_scores",
                    "churn_split_info",
                    "churn_training_summary",
                    "params:churn_model",
                ],
                outputs="churn_model_metrics_draft",
                name="evaluate_scorers",
            ),
            node(
                nodes.plot_churn_model_evaluation,
                inputs=["churn_test_scores", "churn_model_metrics_draft"],
                outputs=[
                    "roc_curve_chart",
                    "precision_recall_chart",
                    "calibration_chart",
                    "gains_chart",
                ],
                name="plot_churn_model_evaluation",
            ),
            node(
                nodes.backtest_candidates,
                inputs=[
                    "churn_model_snapshots",
                    "churn_test_scores",
                    "churn_split_info",
                    "params:churn_model",
                    "params:churn_model.horizon_days",
                ],
                outputs="churn_backtest",
                name="backtest_candidates",
            ),
            node(
                nodes.refit_churn_model,
                inputs=[
                    "churn_model_snapshots",
                    "churn_backtest",
                    "params:churn_model",
                    "params:churn_model.horizon_days",
                ],
                outputs=["churn_model_file", "churn_model_calibrator", "churn_refit"],
                name="refit_churn_model",
            ),
            node(
                nodes.compute_feature_importance,
                inputs=["churn_model_file", "churn_refit", "churn_model_input"],
                outputs="churn_feature_importance",
                name="compute_feature_importance",
            ),
            node(
                nodes.plot_feature_importance,
                inputs="churn_feature_importance",
                outputs="feature_importance_chart",
                name="plot_feature_importance",
            ),
            node(
                nodes.measure_lead_time,
                inputs=[
                    "churn_test_scores",
                    "churn_model_input",
                    "churn_backtest",
                    "params:churn_model",
                ],
                outputs="churn_lead_time",
                name="measure_lead_time",
            ),
            node(
                nodes.describe_churn_model,
                inputs=[
                    "churn_model_file",
                    "churn_model_calibrator",
                    "churn_refit",
                    "churn_backtest",
                    "churn_model_metrics_draft",
                    "latest_theme_model",
                    "params:churn_model",
                ],
                outputs="churn_model_metadata_draft",
                name="describe_churn_model",
            ),
            node(
                nodes.promote_churn_model,
                inputs=[
                    "churn_model_file",
                    "churn_model_calibrator",
                    "churn_model_metadata_draft",
                    "churn_model_metrics_draft",
                    "champion_churn_model",
                    "churn_model_input",
                    "params:churn_model",
                ],
                outputs=["promoted_churn_model", "churn_model_metadata", "churn_model_metrics"],
                name="promote_churn_model",
            ),
            node(
                nodes.write_model_card,
                inputs=[
                    "churn_model_metadata",
                    "churn_backtest",
                    "churn_lead_time",
                    "churn_treated_labels",
                    "params:churn_model.horizon_days",
                ],
                outputs="model_card",
                name="write_model_card",
            ),
        ]
    )
