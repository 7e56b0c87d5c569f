"""CLV: value every active customer and cross-check with sBG."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.value_purchasing_customers,
                inputs=["customer_timeline", "as_of_snapshot", "transactions@ibis", "params:clv"],
                outputs=["purchase_value", "purchase_model"],
                name="value_purchasing_customers",
            ),
            node(
                nodes.value_customers,
                inputs=[
                    "customer_timeline",
                    "survival_curves",
                    "as_of_snapshot",
                    "purchase_value",
                    "params:clv",
                ],
                outputs="customer_value",
                name="value_customers",
            ),
            node(
                nodes.validate_clv_model,
                inputs=["customer_timeline", "transactions@ibis", "purchase_model", "params:clv"],
                outputs=["clv_validation", "clv_tracking"],
                name="validate_clv_model",
            ),
            node(
                nodes.score_bg_nbd_baseline,
                inputs=["transactions@ibis", "snapshot_spine", "clv_validation", "params:clv"],
                outputs="bg_nbd_risk_scores",
                name="score_bg_nbd_baseline",
            ),
            node(
                nodes.plot_conditional_expectations,
                inputs="clv_validation",
                outputs="conditional_expectations_chart",
                name="plot_conditional_expectations",
            ),
            node(
                nodes.plot_purchase_tracking,
                inputs=["clv_tracking", "clv_validation"],
                outputs="purchase_tracking_chart",
                name="plot_purchase_tracking",
            ),
            node(
                nodes.cross_check_clv_with_sbg,
                inputs=[
                    "survival_table",
                    "customer_value",
                    "customer_timeline",
                    "run_plan",
                    "params:clv",
                ],
                outputs=["sbg_cross_check", "sbg_fit"],
                name="cross_check_clv_with_sbg",
            ),
            node(
                nodes.plot_sbg_fit,
                inputs=["sbg_fit", "sbg_cross_check"],
                outputs="sbg_retention_chart",
                name="plot_sbg_fit",
            ),
            node(
                nodes.plot_clv_distribution,
                inputs=["customer_value", "params:clv"],
                outputs="clv_distribution_chart",
                name="plot_clv_distribution",
            ),
            node(
                nodes.plot_value_at_risk_by_segment,
                inputs=["customer_value", "as_of_snapshot", "run_plan", "params:clv"],
                outputs="value_at_risk_by_segment_chart",
                name="plot_value_at_risk_by_segment",
            ),
        ]
    )
