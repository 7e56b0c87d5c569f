"""rfm_summary on a hand-made example (same-day merging, calibration / holdout split), errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customer_retention.models import rfm_summary

CALIBRATION_END = "2020-01-10"
OBSERVATION_END = "2020-01-17"


@pytest.fixture
def transactions() -> pd.DataFrame:
    rows = [
        # A: two purchases on the first day (merged: 15), repeats on the 3rd and 8th,
        #    holdout: two on the 12th (merged: 10) and one on the 15th
        ("A", "2020-01-01 09:00", 10.0),
        ("A", "2020-01-01 17:30", 5.0),
        ("A", "2020-01-03", 20.0),
        ("A", "2020-01-08", 30.0),
        ("A", "2020-01-12", 7.0),
        ("A", "2020-01-12", 3.0),
        ("A", "2020-01-15", 4.0),
        # B: a single purchase
        ("B", "2020-01-05", 50.0),
        # C: two purchases the same day = one purchase, then one after observation_end
        ("C", "2020-01-09 08:30", 12.0),
        ("C", "2020-01-09 18:00", 8.0),
        ("C", "2020-01-20", 100.0),
        # D: first purchase after calibration_end -> not in the calibration cohort
        ("D", "2020-01-11", 9.0),
    ]
    frame = pd.DataFrame(rows, columns=["customer", "when", "amount"])
    frame["when"] = pd.to_datetime(frame["when"], format="ISO8601")
    return frame.sample(frac=1.0, random_state=0)  # order must not matter


EXPECTED_DAYS = pd.DataFrame(
    {
        "frequency": [2.0, 0.0, 0.0],
        "recency": [7.0, 0.0, 0.0],
        "T": [9.0, 5.0, 1.0],
        "monetary_value": [25.0, 0.0, 0.0],  # mean of the repeat purchases (20, 30)
        "frequency_holdout": [2.0, 0.0, 0.0],
        "monetary_value_holdout": [7.0, 0.0, 0.0],  # (10 + 4) / 2
        "duration_holdout": [7.0, 7.0, 7.0],
    },
    index=pd.Index(["A", "B", "C"], name="customer"),
)


def test_hand_made_example_in_days(transactions: pd.DataFrame) -> None:
    summary = rfm_summary(
        transactions, "customer", "when", "amount", CALIBRATION_END, "D", OBSERVATION_END
    )
    pd.testing.assert_frame_equal(summary, EXPECTED_DAYS)


def test_hand_made_example_in_weeks(transactions: pd.DataFrame) -> None:
    summary = rfm_summary(
        transactions, "customer", "when", "amount", CALIBRATION_END, "W", OBSERVATION_END
    )
    expected = EXPECTED_DAYS.copy()
    for column in ("recency", "T", "duration_holdout"):
        expected[column] = expected[column] / 7
    pd.testing.assert_frame_equal(summary, expected)


def test_calibration_only_and_without_amount(transactions: pd.DataFrame) -> None:
    summary = rfm_summary(transactions, "customer", "when", "amount", CALIBRATION_END)
    pd.testing.assert_frame_equal(
        summary, EXPECTED_DAYS[["frequency", "recency", "T", "monetary_value"]]
    )
    no_amount = rfm_summary(transactions, "customer", "when", None, pd.Timestamp(CALIBRATION_END))
    pd.testing.assert_frame_equal(no_amount, EXPECTED_DAYS[["frequency", "recency", "T"]])


@pytest.mark.parametrize("id_kind", ["int", "category", "large_int"])
def test_id_types_give_the_same_summary(transactions: pd.DataFrame, id_kind: str) -> None:
    frame = transactions.copy()
    mapping = {"A": 3, "B": 17, "C": 5, "D": 1}
    if id_kind == "int":
        frame["customer"] = frame["customer"].map(mapping)
    elif id_kind == "large_int":  # sparse ids -> hashing path
        frame["customer"] = frame["customer"].map({k: v * 10**15 for k, v in mapping.items()})
    else:
        frame["customer"] = frame["customer"].astype("category")
    summary = rfm_summary(
        frame, "customer", "when", "amount", CALIBRATION_END, "D", OBSERVATION_END
    )
    assert summary.index.is_monotonic_increasing or id_kind == "category"
    if id_kind != "category":
        factor = 10**15 if id_kind == "large_int" else 1
        order = [mapping[c] * factor for c in ("A", "B", "C")]
        summary = summary.loc[order]
    np.testing.assert_array_equal(summary.to_numpy(), EXPECTED_DAYS.to_numpy())


def test_string_dates_are_parsed(transactions: pd.DataFrame) -> None:
    frame = transactions.assign(when=transactions["when"].dt.strftime("%Y-%m-%d %H:%M"))
    summary = rfm_summary(
        frame, "customer", "when", "amount", CALIBRATION_END, "D", OBSERVATION_END
    )
    pd.testing.assert_frame_equal(summary, EXPECTED_DAYS)


def test_recency_never_exceeds_t_and_feeds_the_models(cdnow_summary: pd.DataFrame) -> None:
    assert (cdnow_summary["recency"] <= cdnow_summary["T"]).all()
    assert ((cdnow_summary["frequency"] == 0) == (cdnow_summary["recency"] == 0)).all()
    assert (cdnow_summary.loc[cdnow_summary["frequency"] == 0, "monetary_value"] == 0).all()
    # published CDNOW convention: first purchase 1997-01-01 -> T = 272 days / 7 = 38.86 weeks
    assert cdnow_summary["T"].max() == pytest.approx(272 / 7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customer_id": "who"}, "customer_id: column 'who' not found"),
        ({"date": "day"}, "date: column 'day' not found"),
        ({"amount": "value"}, "amount: column 'value' not found"),
        ({"time_unit": "M"}, "time_unit must be 'D' or 'W'"),
        ({"observation_end": "2020-01-05"}, "observation_end must be after calibration_end"),
        ({"calibration_end": "2019-12-01"}, "calibration_end: no transaction on or before it"),
        ({"calibration_end": "not a date"}, "calibration_end must be a date"),
    ],
)
def test_argument_errors(transactions: pd.DataFrame, kwargs: dict, message: str) -> None:
    arguments = {
        "customer_id": "customer",
        "date": "when",
        "amount": "amount",
        "calibration_end": CALIBRATION_END,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        rfm_summary(transactions, **arguments)


@pytest.mark.filterwarnings("ignore:Could not infer format")
def test_data_errors(transactions: pd.DataFrame) -> None:
    def run(frame: pd.DataFrame) -> pd.DataFrame:
        return rfm_summary(frame, "customer", "when", "amount", CALIBRATION_END)

    with pytest.raises(ValueError, match="transactions is empty"):
        run(transactions.iloc[:0])
    with pytest.raises(ValueError, match="transactions must be a pandas DataFrame"):
        run(transactions.to_numpy())
    with pytest.raises(ValueError, match="date: column 'when' contains 1 missing value"):
        run(transactions.assign(when=transactions["when"].where(transactions["amount"] != 50.0)))
    with pytest.raises(ValueError, match="customer_id: column 'customer' contains 1 missing"):
        run(transactions.assign(customer=transactions["customer"].replace("B", None)))
    with pytest.raises(ValueError, match="amount: column 'amount' has 1 negative value"):
        run(transactions.assign(amount=transactions["amount"].replace(50.0, -50.0)))
    with pytest.raises(ValueError, match="amount: column 'amount' must be numeric"):
        run(transactions.assign(amount="ten"))
    with pytest.raises(ValueError, match="date: column 'when' cannot be parsed as dates"):
        run(transactions.assign(when="someday"))
