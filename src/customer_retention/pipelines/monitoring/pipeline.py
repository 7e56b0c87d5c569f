"""Monitoring: the scoring snapshot against the promoted model's training window."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.select_drift_samples,
                inputs=[
                    "customer_snapshots",
                    "promoted_churn_model",
                    "params:monitoring",
                    "feedback@optional",
                ],
                outputs=["drift_reference_rows", "drift_scoring_rows", "drift_samples"],
                name="select_drift_samples",
            ),
            node(
                nodes.compute_feature_drift,
                inputs=[
                    "drift_reference_rows",
                    "drift_scoring_rows",
                    "promoted_churn_model",
                    "params:monitoring",
                ],
                outputs="feature_drift",
                name="compute_feature_drift",
            ),
            node(
                nodes.compute_score_shift,
                inputs=[
                    "drift_reference_rows",
                    "at_risk_customers",
                    "promoted_churn_model",
                    "params:monitoring",
                ],
                outputs="score_shift",
                name="compute_score_shift",
            ),
            node(
                nodes.recommend_retraining,
                inputs=[
                    "drift_samples",
                    "feature_drift",
                    "score_shift",
                    "promoted_churn_model",
                    "params:monitoring",
                ],
                outputs="drift_report",
                name="recommend_retraining",
            ),
        ]
    )
