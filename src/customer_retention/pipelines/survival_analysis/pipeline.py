"""Survival analysis of time to churn."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.build_survival_table,
                inputs=["customers", "customer_timeline"],
                outputs="survival_table",
                name="build_survival_table",
            ),
            node(
                nodes.kaplan_meier_by_segment,
                inputs=["survival_table", "customer_snapshots", "params:survival_analysis"],
                outputs=["kaplan_meier_summary", "logrank_tests", "kaplan_meier_chart"],
                name="fit_kaplan_meier_by_segment",
            ),
            node(
                nodes.fit_cox_model,
                inputs=[
                    "survival_table",
                    "customer_snapshots",
                    "params:feature_engineering.horizon_days",
                    "params:survival_analysis",
                ],
                outputs=["cox_model", "hazard_ratios", "cox_risk_scores"],
                name="fit_cox_model",
            ),
            node(
                nodes.plot_hazard_ratios,
                inputs="hazard_ratios",
                outputs="hazard_ratio_chart",
                name="plot_hazard_ratios",
            ),
            node(
                nodes.fit_weibull_aft,
                inputs=["survival_table", "params:survival_analysis"],
                outputs="weibull_aft_model",
                name="fit_weibull_aft",
            ),
            node(
                nodes.fit_landmark_model,
                inputs=["customer_snapshots", "params:survival_analysis"],
                outputs=["landmark_model", "survival_curves", "landmark_chart"],
                name="fit_landmark_model",
            ),
            node(
                nodes.summarise_survival,
                inputs=["kaplan_meier_summary", "cox_model", "weibull_aft_model", "landmark_model"],
                outputs="survival_summary",
                name="summarise_survival",
            ),
        ]
    )
