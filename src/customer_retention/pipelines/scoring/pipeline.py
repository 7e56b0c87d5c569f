"""Scoring: the promoted churn model applied to the as-of snapshot (no training nodes),
ranked by value at risk, and the retention budget plan."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.select_as_of_snapshot,
                inputs="as_of_snapshot",
                outputs="scoring_rows",
                name="select_as_of_snapshot",
            ),
            node(
                nodes.attach_latest_theme,
                inputs=["scoring_rows", "feedback@optional", "promoted_churn_model"],
                outputs="scoring_input",
                name="attach_latest_theme",
            ),
            node(
                nodes.score_customers,
                inputs=["scoring_input", "promoted_churn_model", "params:scoring"],
                outputs="churn_scores",
                name="score_customers",
            ),
            node(
                nodes.estimate_uplift,
                inputs=["scoring_input", "uplift_models"],
                outputs="customer_uplift",
                name="estimate_uplift",
            ),
            node(
                nodes.rank_by_value_at_risk,
                inputs=["churn_scores", "customer_value", "customer_uplift"],
                outputs="at_risk_customers",
                name="rank_by_value_at_risk",
            ),
            node(
                nodes.build_retention_plan,
                inputs=["at_risk_customers", "params:retention_plan"],
                outputs=["retention_plan", "retention_plan_summary"],
                name="build_retention_plan",
            ),
        ]
    )
