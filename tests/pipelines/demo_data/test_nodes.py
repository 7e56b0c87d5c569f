"""The demo data have the properties the generator plants, and they are reproducible."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from customer_retention.core.contract import RAW_TABLES
from customer_retention.datasets import RawTableDataset
from customer_retention.models.simulation import hazard_multiplier, true_churn_probability
from customer_retention.pipelines.data_cleaning.nodes import clean_customer_table, clean_customers
from customer_retention.pipelines.demo_data import nodes
from customer_retention.pipelines.demo_data.nodes import generate_demo_data, usage_decline_days


def _truth_frame(ground_truth: dict, customers: pd.DataFrame) -> pd.DataFrame:
    """One row per customer: attributes, latent traits, churn flag and observed tenure."""
    truth = pd.DataFrame(ground_truth["customers"])
    frame = customers.drop_duplicates("customer_id").merge(truth, on="customer_id")
    as_of = pd.Timestamp(ground_truth["as_of_date"])
    end = pd.to_datetime(frame["churn_date"]).fillna(as_of + pd.Timedelta(days=1))
    frame["churned"] = frame["churn_date"].notna()
    frame["tenure_days"] = (end - frame["signup_date"]).dt.days
    return frame


def test_same_seed_gives_identical_tables(demo_params, demo_output):
    again = generate_demo_data(copy.deepcopy(demo_params))
    for table, first, second in zip(RAW_TABLES, demo_output[:-1], again[:-1], strict=True):
        pd.testing.assert_frame_equal(first, second, obj=table)
    assert again[-1] == demo_output[-1]


def test_other_seed_gives_other_data(demo_params, demo_output):
    other = generate_demo_data({**copy.deepcopy(demo_params), "seed": 7})
    assert not other[0]["signup_date"].equals(demo_output[0]["signup_date"])


def test_tables_follow_the_data_contract(demo_tables):
    expected = {
        "customers": {"customer_id", "signup_date"},
        "subscriptions": {"customer_id", "start_date", "end_date", "plan", "mrr"},
        "transactions": {"transaction_id", "customer_id", "transaction_date", "amount"},
        "events": {"customer_id", "event_time", "event_type"},
        "support_tickets": {
            "ticket_id",
            "customer_id",
            "opened_at",
            "first_response_at",
            "resolved_at",
            "csat",
        },
        "feedback": {"customer_id", "response_date", "survey", "score", "reason", "comment"},
    }
    for table, columns in expected.items():
        assert columns <= set(demo_tables[table].columns), table
        assert len(demo_tables[table]) > 0, table


# Column types as written to Parquet, which every downstream stage reads.
PARQUET_SCHEMA = {
    "customers": {
        "customer_id": "int64",
        "signup_date": "timestamp[ms]",
        "plan": "string",
        "region": "string",
        "acquisition_channel": "string",
        "contract_type": "string",
    },
    "subscriptions": {
        "customer_id": "int64",
        "start_date": "timestamp[ms]",
        "end_date": "timestamp[us]",
        "plan": "string",
        "mrr": "double",
    },
    "transactions": {
        "transaction_id": "int64",
        "customer_id": "int64",
        "transaction_date": "timestamp[ms]",
        "amount": "double",
    },
    "events": {
        "customer_id": "int64",
        "event_time": "timestamp[ms]",
        "event_type": "dictionary<values=string, indices=int8, ordered=0>",
    },
    "support_tickets": {
        "ticket_id": "int64",
        "customer_id": "int64",
        "opened_at": "timestamp[ms]",
        "first_response_at": "timestamp[ms]",
        "resolved_at": "timestamp[us]",
        "csat": "int64",
    },
    "feedback": {
        "customer_id": "int64",
        "response_date": "timestamp[ms]",
        "survey": "string",
        "score": "double",
        "reason": "string",
        "comment": "string",
    },
    "interventions": {
        "customer_id": "int64",
        "campaign": "string",
        "treated_at": "timestamp[ms]",
        "arm": "string",
        "action": "string",
        "cost": "double",
    },
}


def test_tables_keep_their_parquet_schema(demo_tables, tmp_path):
    for table, frame in demo_tables.items():
        RawTableDataset(path=str(tmp_path / table), table=table).save(frame)
        schema = pq.read_schema(tmp_path / f"{table}.parquet")
        assert dict(zip(schema.names, map(str, schema.types), strict=True)) == PARQUET_SCHEMA[table]


def test_customer_time_key_orders_like_a_lexsort():
    rng = np.random.default_rng(0)
    row, tick = rng.integers(0, 50, 5000), rng.integers(0, 30, 5000)
    order = np.argsort(nodes._customer_time_key(row, tick, 30), kind="stable")
    np.testing.assert_array_equal(order, np.lexsort((tick, row)))
    with pytest.raises(OverflowError):
        nodes._customer_time_key(np.array([2**40]), np.array([0]), 2**30)


def _events_per_customer_day(tables: dict[str, pd.DataFrame], truth: dict) -> pd.Series:
    """Events per active day of never-churned customers, by engagement level (no usage fade)."""
    frame = _truth_frame(truth, tables["customers"])
    stayed = frame[~frame["churned"]].set_index("customer_id")
    counts = tables["events"]["customer_id"].value_counts().reindex(stayed.index, fill_value=0)
    return (counts.groupby(stayed["engagement"]).sum()) / (
        stayed["tenure_days"].groupby(stayed["engagement"]).sum()
    )


def test_events_drawn_in_many_blocks_are_ordered_and_keep_their_rates(
    demo_params, demo_output, ground_truth, monkeypatch
):
    """The other tests see one block of customers (3,000 < EVENT_BLOCK_CUSTOMERS); with blocks
    of 250 the events are still in customer and time order and the planted rates hold."""
    monkeypatch.setattr(nodes, "EVENT_BLOCK_CUSTOMERS", 250)
    *tables, truth = generate_demo_data(copy.deepcopy(demo_params))
    tables = dict(zip(RAW_TABLES, tables, strict=True))
    events = tables["events"].iloc[: -truth["planted_data_errors"]["events"]["duplicate row"]]
    assert pd.MultiIndex.from_frame(events[["customer_id", "event_time"]]).is_monotonic_increasing
    assert ((events["customer_id"] - 1) // 250).nunique() == 12  # every block has its events
    one_block = dict(zip(RAW_TABLES, demo_output[:-1], strict=True))
    pd.testing.assert_series_equal(
        _events_per_customer_day(tables, truth),
        _events_per_customer_day(one_block, ground_truth),
        rtol=0.1,
    )
    shares = events["event_type"].value_counts(normalize=True)
    expected = pd.Series(demo_params["events"]["event_types"])
    np.testing.assert_allclose(shares[expected.index], expected / expected.sum(), atol=0.01)


def test_truth_multiplier_is_the_product_of_planted_ratios(demo_tables, ground_truth):
    frame = _truth_frame(ground_truth, demo_tables["customers"])
    expected = hazard_multiplier(frame, ground_truth["hazard_ratios"])
    np.testing.assert_allclose(frame["true_hazard_multiplier"], expected, rtol=1e-5)
    assert frame.loc[frame["region"] == "europe", "true_hazard_multiplier"].min() > 0


def test_churn_share_matches_the_planted_model(ground_truth):
    summary = ground_truth["summary"]
    # Binomial standard error of a share over 3,000 customers is below 1 point.
    assert 0.2 < summary["churned_share"] < 0.6
    assert abs(summary["churned_share"] - summary["expected_churned_share"]) < 0.03


@pytest.mark.parametrize(
    ("attribute", "level", "reference"),
    [
        ("contract_type", "annual", "monthly"),
        ("support_tier", "slow", "fast"),
        ("nps_disposition", "detractor", "passive"),
        ("engagement", "low", "normal"),
    ],
)
def test_stratified_rate_ratio_recovers_planted_hazard_ratio(
    demo_tables, ground_truth, attribute, level, reference
):
    """Mantel-Haenszel rate ratio, with exposure measured on the planted baseline time scale
    Lambda0(t) = (t/s)^k, within strata of every other planted covariate."""
    frame = _truth_frame(ground_truth, demo_tables["customers"])
    frame = frame[frame[attribute].isin([level, reference])]
    baseline = ground_truth["baseline_hazard"]
    frame["exposure"] = (frame["tenure_days"] / baseline["weibull_scale_days"]) ** baseline[
        "weibull_shape"
    ]
    strata = [c for c in ground_truth["hazard_ratios"] if c != attribute]
    grouped = frame.groupby([*strata, attribute])[["churned", "exposure"]].sum().unstack(attribute)
    grouped = grouped.dropna()
    d1, d0 = grouped[("churned", level)], grouped[("churned", reference)]
    e1, e0 = grouped[("exposure", level)], grouped[("exposure", reference)]
    total = e1 + e0
    estimate = (d1 * e0 / total).sum() / (d0 * e1 / total).sum()
    planted = ground_truth["hazard_ratios"][attribute][level]
    assert estimate == pytest.approx(planted, rel=0.25)


def _keep_share(days_before: np.ndarray, decline_days: float, floor: float) -> np.ndarray:
    """Planted share of usage kept ``days_before`` churn: linear from 1 down to ``floor``."""
    return floor + (1 - floor) * np.clip(days_before / decline_days, 0, 1)


def test_usage_fades_before_churn_over_the_planted_window_of_each_contract(
    demo_tables, ground_truth
):
    """The fade's length depends on the contract (the demo's non-additive effect): measured per
    contract type, usage relative to a window before any fade follows the planted curve."""
    signals = ground_truth["leading_signals"]
    decline, floor = signals["usage_decline_days"], signals["usage_floor"]
    assert len(set(decline.values())) > 1  # a mapping by contract type, with different lengths
    frame = _truth_frame(ground_truth, demo_tables["customers"])
    churned = frame[frame["churned"] & (frame["tenure_days"] > 400)]
    events = demo_tables["events"].merge(
        churned[["customer_id", "churn_date", "contract_type"]], on="customer_id"
    )
    events["days_before"] = (pd.to_datetime(events["churn_date"]) - events["event_time"]).dt.days
    reference = (250, 400)  # before every planted fade
    assert max(decline.values()) < reference[0]
    short, long = min(decline.values()), max(decline.values())
    for contract, days in decline.items():
        rows = events[events["contract_type"] == contract]["days_before"]

        def rate(start: int, stop: int, rows: pd.Series = rows) -> float:
            return rows.between(start, stop - 1).sum() / (stop - start)

        for start, stop in [(0, 15), (short, long)]:
            planted = _keep_share(np.linspace(start, stop, 1000, endpoint=False), days, floor)
            observed = rate(start, stop) / rate(*reference)
            assert observed == pytest.approx(planted.mean(), abs=0.1), (contract, start, stop)
    # Between the two lengths the long-fade contract has faded and the short-fade one not yet:
    # the planted shares there differ by more than twice the tolerance, so the check tells the
    # contracts apart.
    between = np.linspace(short, long, 1000, endpoint=False)
    assert (
        _keep_share(between, short, floor).mean() - _keep_share(between, long, floor).mean() > 0.2
    )


def test_usage_decline_days_are_one_number_or_one_per_contract_type():
    customers = pd.DataFrame({"contract_type": ["monthly", "annual", "monthly"]})
    np.testing.assert_array_equal(usage_decline_days(customers, 60), [60.0, 60.0, 60.0])
    np.testing.assert_array_equal(
        usage_decline_days(customers, {"monthly": 30, "annual": 150}), [30.0, 150.0, 30.0]
    )
    with pytest.raises(ValueError, match=r"contract type\(s\) \['annual'\]"):
        usage_decline_days(customers, {"monthly": 30})


def test_exit_surveys_come_before_the_churn_date(demo_tables, ground_truth):
    frame = _truth_frame(ground_truth, demo_tables["customers"])
    exits = demo_tables["feedback"].query("survey == 'exit'").merge(frame, on="customer_id")
    assert exits["churned"].all()
    lead = (pd.to_datetime(exits["churn_date"]) - exits["response_date"]).dt.days
    assert lead.between(0, ground_truth["leading_signals"]["exit_survey_lead_days"]).all()


def test_nps_answers_reveal_the_disposition(demo_tables, ground_truth):
    frame = _truth_frame(ground_truth, demo_tables["customers"])
    nps = (
        demo_tables["feedback"]
        .query("survey == 'nps' and score <= 10")
        .merge(frame, on="customer_id")
    )
    by_disposition = nps.groupby("nps_disposition")["score"].agg(["min", "max"])
    assert by_disposition.loc["detractor", "max"] <= 6
    assert by_disposition.loc["passive"].tolist() == [7, 8]
    assert by_disposition.loc["promoter", "min"] >= 9


def test_subscriptions_end_exactly_at_churn(demo_tables, ground_truth):
    frame = _truth_frame(ground_truth, demo_tables["customers"]).set_index("customer_id")
    subs = demo_tables["subscriptions"]
    subs = subs[subs["end_date"].isna() | (subs["end_date"] >= subs["start_date"])]
    last = subs.sort_values("start_date").drop_duplicates("customer_id", keep="last")
    last = last.set_index("customer_id")
    churned = frame.loc[last.index, "churned"]
    assert last.loc[~churned, "end_date"].isna().all()
    np.testing.assert_array_equal(
        last.loc[churned, "end_date"].to_numpy(),
        pd.to_datetime(frame.loc[last.index[churned], "churn_date"]).to_numpy(),
    )
    assert (subs["mrr"] > 0).all()


def test_true_churn_probability_is_a_probability_and_grows_with_horizon(ground_truth):
    ids = np.array(ground_truth["customers"]["customer_id"][:200])
    tenure = np.full(len(ids), 100)
    short = true_churn_probability(ground_truth, ids, tenure, 30)
    long = true_churn_probability(ground_truth, ids, tenure, 90)
    assert ((short > 0) & (short < long) & (long < 1)).all()


def test_cleaning_quarantines_exactly_the_planted_errors(
    demo_tables, ground_truth, cleaning_params
):
    customers, _, report, _ = clean_customers(demo_tables["customers"], cleaning_params)
    reports = {"customers": report}
    for table in RAW_TABLES[1:]:
        reports[table] = clean_customer_table(
            demo_tables[table], customers, cleaning_params, table=table
        )[2]
    for table in RAW_TABLES:
        planted = {k: v for k, v in ground_truth["planted_data_errors"].get(table, {}).items() if v}
        assert reports[table]["quarantined_by_reason"] == planted, table
