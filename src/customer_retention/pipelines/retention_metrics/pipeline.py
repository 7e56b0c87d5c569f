"""Retention metrics: the reporting tables of data/08_reporting and the health score."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.build_monthly_retention,
                inputs=["customer_timeline", "subscriptions@ibis", "feedback@pandas", "run_plan"],
                outputs="monthly_retention",
                name="build_monthly_retention",
            ),
            node(
                nodes.build_cohort_retention,
                inputs=["customers", "customer_timeline", "run_plan"],
                outputs="cohort_retention",
                name="build_cohort_retention",
            ),
            node(
                nodes.count_exit_reasons,
                inputs="feedback@pandas",
                outputs="exit_reasons",
                name="count_exit_reasons",
            ),
            node(
                nodes.compute_churn_by_support_band,
                inputs=["customer_snapshots", "params:retention_metrics"],
                outputs="churn_by_support_band",
                name="compute_churn_by_support_band",
            ),
            node(
                nodes.build_customer_health,
                inputs=["customer_snapshots", "params:retention_metrics.health_score"],
                outputs=["customer_health", "health_score_summary"],
                name="build_customer_health",
            ),
            node(
                nodes.summarise_retention,
                inputs=["monthly_retention", "health_score_summary", "exit_reasons", "run_plan"],
                outputs="retention_summary",
                name="summarise_retention",
            ),
        ]
    )
