"""CLV: value every active customer, cross-check with sBG, plan the retention budget."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.value_customers,
                inputs=[
                    "customer_timeline",
                    "survival_curves",
                    "customer_snapshots",
                    "transactions@ibis",
                    "params:clv",
                ],
                outputs="customer_value",
                name="value_customers",
            ),
            node(
                nodes.sbg_cross_check,
                inputs=["survival_table", "customer_value", "customer_timeline", "params:clv"],
                outputs=["sbg_cross_check", "sbg_retention_chart"],
                name="sbg_cross_check",
            ),
            node(
                nodes.build_retention_plan,
                inputs=["customer_value", "params:clv"],
                outputs=["retention_plan", "retention_plan_summary"],
                name="build_retention_plan",
            ),
            node(
                nodes.plot_clv_distribution,
                inputs="customer_value",
                outputs="clv_distribution_chart",
                name="plot_clv_distribution",
            ),
            node(
                nodes.plot_value_at_risk_by_segment,
                inputs=["customer_value", "customer_snapshots", "params:clv"],
                outputs="value_at_risk_chart",
                name="plot_value_at_risk_by_segment",
            ),
        ]
    )
