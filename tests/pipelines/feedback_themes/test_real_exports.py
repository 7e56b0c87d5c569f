"""On data our generator did not make (the CRM-style export of tests/fixtures): no feedback
table, or a survey export whose comments are blank, "N/A" or dashes -- the stage says why it
skipped and the run goes on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customer_retention.pipelines.data_cleaning.nodes import clean_customer_table, clean_customers

from ...conftest import load_parameters
from ...fixtures.real_exports import crm_tables
from .helpers import timeline_and_spine
from .test_nodes import _run_stage


@pytest.fixture(scope="module")
def crm() -> dict[str, pd.DataFrame]:
    raw = crm_tables(n=600)
    cleaning = load_parameters("data_cleaning") | {"reference_date": "2026-01-31"}
    customers = clean_customers(raw["customers"], cleaning)[0]
    tables = {"customers": customers}
    for table in ("subscriptions", "transactions"):
        tables[table] = clean_customer_table(raw.get(table), customers, cleaning, table=table)[0]
    survey = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].iloc[::3].to_numpy(),
            "response_date": "2024-05-15",
            "survey": "nps",
            "score": (np.arange(len(customers.iloc[::3])) % 11).astype(str),
            "reason": "",
            "comment": np.resize(
                np.array(["", " ", "N/A", "-", "--", "n/a", None], object), len(customers.iloc[::3])
            ),
        }
    )
    tables["feedback"] = clean_customer_table(survey, customers, cleaning, table="feedback")[0]
    return tables


@pytest.mark.parametrize("with_survey", [False, True])
def test_a_crm_export_without_readable_comments_skips_the_stage(crm, with_survey):
    timeline, spine = timeline_and_spine(crm)
    assert len(spine) > 0
    out = _run_stage(crm["feedback"] if with_survey else None, timeline, spine)
    report = out["comment_themes_report"]
    assert report["status"] == "skipped"
    if with_survey:
        assert report["comments"]["feedback_rows"] == len(crm["feedback"]) > 0
        assert report["comments"]["read"] == 0
        assert "0 readable comment(s)" in report["reason"]
    else:
        assert "no feedback table" in report["reason"]
    assert len(out["latest_theme_features"]) == len(spine)
