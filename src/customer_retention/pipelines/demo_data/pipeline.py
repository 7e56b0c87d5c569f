"""Demo data: a synthetic subscription business with known, planted churn effects."""

from kedro.pipeline import Pipeline, node

from customer_retention.core.contract import RAW_TABLES

from .nodes import generate_demo_data


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                generate_demo_data,
                inputs="params:demo_data",
                outputs=[f"{table}_raw" for table in RAW_TABLES] + ["ground_truth"],
                name="generate_demo_data",
            )
        ]
    )
