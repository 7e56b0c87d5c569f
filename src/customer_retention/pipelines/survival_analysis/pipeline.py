"""Survival analysis of time to churn."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.build_survival_table,
                inputs=[
                    "customers",
                    "customer_timeline",
                    "customer_attributes",
                    "params:survival_analysis",
                ],
                outputs="survival_table",
                name="build_survival_table",
            ),
            node(
                nodes.fit_kaplan_meier_by_segment,
                inputs=[
                    "survival_table",
                    "customer_snapshots",
                    "run_plan",
                    "params:survival_analysis",
                ],
                outputs=["kaplan_meier_summary", "logrank_tests"],
                name="fit_kaplan_meier_by_segment",
            ),
            node(
                nodes.estimate_km_curves,
                inputs=[
                    "survival_table",
                    "customer_snapshots",
                    "run_plan",
                    "params:survival_analysis",
                    "params:survival_analysis.km_min_at_risk",
                ],
                outputs="km_curves",
                name="estimate_km_curves",
            ),
            node(
                nodes.fit_cox_model,
                inputs=[
                    "survival_table",
                    "customer_snapshots",
                    "run_plan",
                    "params:survival_analysis.horizon_days",
                    "params:survival_analysis",
                ],
                outputs=["cox_summary", "hazard_ratios", "cox_risk_scores", "cox_survival_curves"],
                name="fit_cox_model",
            ),
            node(
                nodes.plot_kaplan_meier,
                inputs=["km_curves", "logrank_tests"],
                outputs="kaplan_meier_chart",
                name="plot_kaplan_meier",
            ),
            node(
                nodes.plot_hazard_ratios,
                inputs=["hazard_ratios", "cox_summary", "kaplan_meier_summary"],
                outputs="hazard_ratios_chart",
                name="plot_hazard_ratios",
            ),
            node(
                nodes.fit_weibull_aft,
                inputs=["survival_table", "run_plan", "params:survival_analysis"],
                outputs="weibull_aft_summary",
                name="fit_weibull_aft",
            ),
            node(
                nodes.fit_landmark_model,
                inputs=[
                    "customer_snapshots",
                    "run_plan",
                    "customer_attributes",
                    "params:survival_analysis",
                    "survival_table",
                ],
                outputs=["landmark_summary", "landmark_survival_curves", "landmark_check"],
                name="fit_landmark_model",
            ),
            node(
                nodes.fit_boosted_survival,
                inputs=[
                    "customer_snapshots",
                    "run_plan",
                    "customer_attributes",
                    "params:survival_analysis",
                ],
                outputs=["boosted_survival_summary", "boosted_survival_curves"],
                name="fit_boosted_survival",
            ),
            node(
                nodes.plot_landmark_check,
                inputs=["landmark_check", "landmark_summary"],
                outputs="landmark_check_chart",
                name="plot_landmark_check",
            ),
            node(
                nodes.select_survival_curves,
                inputs=[
                    "landmark_survival_curves",
                    "boosted_survival_curves",
                    "cox_survival_curves",
                    "survival_table",
                    "as_of_snapshot",
                    "landmark_summary",
                    "boosted_survival_summary",
                    "params:survival_analysis",
                ],
                outputs=["survival_curves", "survival_curves_source"],
                name="select_survival_curves",
            ),
            node(
                nodes.summarise_survival,
                inputs=[
                    "kaplan_meier_summary",
                    "cox_summary",
                    "weibull_aft_summary",
                    "landmark_summary",
                    "boosted_survival_summary",
                    "survival_curves_source",
                ],
                outputs="survival_summary",
                name="summarise_survival",
            ),
        ]
    )
