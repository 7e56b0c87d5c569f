"""Cleaning: every raw table to a clean table plus a quarantine, and a reconciliation report."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from customer_retention.core.contract import TABLE_SPECS

from .nodes import clean_customer_table, clean_customers, reconcile_data_quality

CUSTOMER_TABLES = [table for table in TABLE_SPECS if table != "customers"]


def _clean_node(table: str):
    func = update_wrapper(partial(clean_customer_table, table=table), clean_customer_table)
    return node(
        func,
        inputs=[f"{table}_raw", "customers", "params:data_cleaning"],
        outputs=[f"{table}@pandas", f"{table}_quarantine", f"{table}_cleaning_report"],
        name=f"clean_{table}",
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                clean_customers,
                inputs=["customers_raw", "params:data_cleaning"],
                outputs=[
                    "customers",
                    "customers_quarantine",
                    "customers_cleaning_report",
                    "customer_attributes",
                ],
                name="clean_customers",
            ),
            *[_clean_node(table) for table in CUSTOMER_TABLES],
            node(
                reconcile_data_quality,
                inputs={
                    "max_quarantine_share": "params:data_cleaning.max_quarantine_share",
                    "contract": "params:data_cleaning.contract",
                    **{table: f"{table}_cleaning_report" for table in TABLE_SPECS},
                },
                outputs="data_quality",
                name="reconcile_data_quality",
            ),
        ]
    )
