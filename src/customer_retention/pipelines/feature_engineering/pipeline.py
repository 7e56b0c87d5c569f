"""Feature engineering: customer timeline, snapshot spine, Ibis aggregations, assembly."""

from kedro.pipeline import Pipeline, node

from . import nodes

FEATURE_GROUPS = {
    "usage": ("events", nodes.build_usage_features),
    "purchase": ("transactions", nodes.build_purchase_features),
    "subscription": ("subscriptions", nodes.build_subscription_features),
    "support": ("support_tickets", nodes.build_support_features),
    "feedback": ("feedback", nodes.build_feedback_features),
}


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.build_customer_timeline,
                inputs=[
                    "customers",
                    "subscriptions@ibis",
                    "transactions@ibis",
                    "params:feature_engineering",
                ],
                outputs="customer_timeline",
                name="build_customer_timeline",
            ),
            node(
                nodes.build_snapshot_spine,
                inputs=["customers", "customer_timeline", "params:feature_engineering"],
                outputs="snapshot_spine",
                name="build_snapshot_spine",
            ),
            *[
                node(
                    func,
                    inputs=["snapshot_spine", f"{table}@ibis", "params:feature_engineering"],
                    outputs=f"{group}_features",
                    name=f"build_{group}_features",
                )
                for group, (table, func) in FEATURE_GROUPS.items()
            ],
            node(
                nodes.assemble_customer_snapshots,
                inputs=[
                    "snapshot_spine",
                    "customers",
                    "customer_attributes",
                    "params:feature_engineering",
                    *[f"{group}_features" for group in FEATURE_GROUPS],
                ],
                outputs=["customer_snapshots", "as_of_snapshot"],
                name="assemble_customer_snapshots",
            ),
        ]
    )
