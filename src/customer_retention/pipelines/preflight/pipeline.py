"""Pre-flight: the run plan every analysis stage reads its decision from.

The one stage that reads other stages' parameter blocks: deciding what runs is its job.
"""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.plan_run,
                inputs=[
                    "customer_timeline",
                    "snapshot_spine",
                    "customer_attributes",
                    "params:feature_engineering",
                    "params:survival_analysis",
                    "params:churn_model.split",
                ],
                outputs="run_plan",
                name="plan_run",
            )
        ]
    )
