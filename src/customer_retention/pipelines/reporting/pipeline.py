"""Reporting: one self-contained HTML report (data/08_reporting/report.html) for reviewers."""

from kedro.pipeline import Pipeline, node

from . import nodes

HORIZON = "params:reporting.horizon_days"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.build_retention_section,
                inputs=[
                    "monthly_retention",
                    "cohort_retention",
                    "exit_reasons",
                    "churn_by_support_band",
                    "customer_health",
                    "retention_summary",
                    HORIZON,
                    "params:reporting",
                ],
                outputs=["report_retention_section", "report_retention_charts"],
                name="build_retention_section",
            ),
            node(
                nodes.build_survival_section,
                inputs=[
                    "survival_summary",
                    "hazard_ratios",
                    "logrank_tests",
                    "km_curves",
                    "landmark_check",
                ],
                outputs=["report_survival_section", "report_survival_charts"],
                name="build_survival_section",
            ),
            node(
                nodes.build_model_section,
                inputs=[
                    "churn_model_metrics",
                    "churn_test_scores",
                    "churn_feature_importance",
                    "churn_backtest",
                    "model_card",
                    HORIZON,
                    "run_plan",
                ],
                outputs=["report_model_section", "report_model_charts"],
                name="build_model_section",
            ),
            node(
                nodes.build_campaign_section,
                inputs=[
                    "campaign_effects",
                    "campaign_outcomes",
                    "uplift_metrics",
                    "params:reporting.currency",
                ],
                outputs=["report_campaign_section", "report_campaign_charts"],
                name="build_campaign_section",
            ),
            node(
                nodes.build_feedback_section,
                inputs=["comment_themes_report", HORIZON, "params:reporting"],
                outputs=["report_feedback_section", "report_feedback_charts"],
                name="build_feedback_section",
            ),
            node(
                nodes.build_value_section,
                inputs=[
                    "customer_value",
                    "at_risk_customers",
                    "retention_plan",
                    "retention_plan_summary",
                    "survival_table",
                    "customer_health",
                    "params:reporting.value_at_risk_segments",
                    HORIZON,
                    "params:reporting",
                    "run_plan",
                    "clv_validation",
                    "clv_tracking",
                    "sbg_fit",
                    "sbg_cross_check",
                ],
                outputs=["report_value_section", "report_value_charts"],
                name="build_value_section",
            ),
            node(
                nodes.build_run_section,
                inputs=[
                    "data_quality",
                    "churn_model_metrics",
                    "churn_model_metadata",
                    "monthly_retention",
                    "customer_health",
                    "drift_report",
                    "parameters",
                    "run_plan",
                    "churn_model_ground_truth",  # present only for demo data
                ],
                outputs=["report_run_section", "report_run_charts"],
                name="build_run_section",
            ),
            node(
                nodes.summarise_report_headlines,
                inputs=[
                    "report_retention_section",
                    "report_model_section",
                    "report_value_section",
                    "report_run_section",
                    "previous_report_summary",
                    HORIZON,
                    "params:reporting",
                ],
                outputs=["report_summary", "report_summary_section"],
                name="summarise_report_headlines",
            ),
            node(
                nodes.encode_report_charts,
                inputs=[
                    "report_retention_charts",
                    "report_survival_charts",
                    "report_model_charts",
                    "report_value_charts",
                    "report_run_charts",
                    "report_campaign_charts",
                    "report_feedback_charts",
                ],
                outputs=["report_charts", "report_chart_images"],
                name="encode_report_charts",
            ),
            node(
                nodes.render_report,
                inputs=[
                    "report_summary_section",
                    "report_retention_section",
                    "report_survival_section",
                    "report_model_section",
                    "report_value_section",
                    "report_run_section",
                    "report_chart_images",
                    HORIZON,
                    "params:reporting",
                    "report_campaign_section",
                    "report_feedback_section",
                ],
                outputs="report_html",
                name="render_report",
            ),
        ]
    )
