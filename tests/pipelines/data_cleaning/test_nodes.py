"""Bad input ends in quarantine with the right reason, or stops the run with a clear error."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from customer_retention.core.contract import RAW_TABLES, business_model
from customer_retention.datasets import RawTableDataset
from customer_retention.pipelines.data_cleaning.nodes import (
    DataContractError,
    check_required_tables,
    clean_customer_table,
    clean_customers,
    reconcile_data_quality,
)

# Small valid tables as they arrive from CSV (every value is text).
VALID = {
    "customers": [
        {"customer_id": "C1", "signup_date": "2024-01-05", "plan": "basic"},
        {"customer_id": "C2", "signup_date": "2024-02-10", "plan": "pro"},
    ],
    "subscriptions": [
        {
            "customer_id": "C1",
            "start_date": "2024-01-05",
            "end_date": "2024-06-05",
            "plan": "basic",
            "mrr": "49",
        },
        {
            "customer_id": "C2",
            "start_date": "2024-02-10",
            "end_date": "",
            "plan": "pro",
            "mrr": "149.5",
        },
    ],
    "transactions": [
        {
            "transaction_id": "T1",
            "customer_id": "C1",
            "transaction_date": "2024-01-05",
            "amount": "49",
        },
        {
            "transaction_id": "T2",
            "customer_id": "C2",
            "transaction_date": "2024-02-10T10:30:00",
            "amount": "149.5",
        },
    ],
    "events": [
        {"customer_id": "C1", "event_time": "2024-01-06 09:00:00", "event_type": "login"},
        {"customer_id": "C2", "event_time": "2024-02-11 10:00:00", "event_type": "export"},
    ],
    "support_tickets": [
        {
            "ticket_id": "K1",
            "customer_id": "C1",
            "opened_at": "2024-01-07 08:00",
            "first_response_at": "2024-01-07 09:00",
            "resolved_at": "2024-01-08 10:00",
            "csat": "4",
        },
        {
            "ticket_id": "K2",
            "customer_id": "C2",
            "opened_at": "2024-03-01 08:00",
            "first_response_at": "",
            "resolved_at": "",
            "csat": "",
        },
    ],
    "feedback": [
        {
            "customer_id": "C1",
            "response_date": "2024-03-01",
            "survey": "nps",
            "score": "9",
            "reason": "easy to use",
            "comment": "",
        },
        {
            "customer_id": "C1",
            "response_date": "2024-06-01",
            "survey": "exit",
            "score": "",
            "reason": "too_expensive",
            "comment": "Price went up",
        },
    ],
    "interventions": [
        {
            "customer_id": "C1",
            "campaign": "spring_offer",
            "treated_at": "2024-04-01",
            "arm": "Treatment",
            "action": "discount",
            "cost": "40",
        },
        {
            "customer_id": "C2",
            "campaign": "spring_offer",
            "treated_at": "2024-04-01",
            "arm": "control",
            "action": "",
            "cost": "",
        },
    ],
}


def _raw(table: str, extra_rows: list[dict] | None = None) -> pd.DataFrame:
    rows = VALID[table] + (extra_rows or [])
    frame = pd.DataFrame(rows, dtype="string")
    return frame.mask(frame == "", pd.NA)


def _clean(table: str, raw: pd.DataFrame, params: dict):
    if table == "customers":
        return clean_customers(raw, params)[:3]
    customers, _, _, _ = clean_customers(_raw("customers"), params)
    return clean_customer_table(raw, customers, params, table=table)


def _with(table: str, row: int = 0, **changes: str) -> dict:
    return {**VALID[table][row], **changes}


BAD_ROWS = [
    (
        "customers",
        _with("customers", customer_id="C9", signup_date="31/02/2024"),
        "unparseable signup_date",
    ),
    ("customers", _with("customers", customer_id="C9", signup_date=""), "missing signup_date"),
    ("customers", _with("customers", customer_id=""), "missing customer_id"),
    ("customers", _with("customers", customer_id="   "), "empty customer_id"),
    (
        "customers",
        _with("customers", signup_date="2024-01-06"),
        "duplicate customer_id with conflicting values",
    ),
    ("customers", _with("customers"), "duplicate row"),
    (
        "customers",
        _with("customers", customer_id="C9", signup_date="1970-01-01"),
        "signup_date before 1990-01-01",
    ),
    (
        "customers",
        _with("customers", customer_id="C9", signup_date="2030-01-01"),
        "signup_date in the future (after 2026-01-31)",
    ),
    ("transactions", _with("transactions", transaction_id="T9", amount="-5"), "negative amount"),
    (
        "transactions",
        _with("transactions", transaction_id="T9", amount="5000000"),
        "amount above 1,000,000",
    ),
    (
        "transactions",
        _with("transactions", transaction_id="T9", amount="12,50 EUR"),
        "unparseable amount",
    ),
    (
        "transactions",
        _with("transactions", transaction_id="T9", customer_id="C404"),
        "unknown customer_id",
    ),
    (
        "transactions",
        _with("transactions", amount="50"),
        "duplicate transaction_id with conflicting values",
    ),
    ("subscriptions", _with("subscriptions", end_date="2023-12-31"), "end_date before start_date"),
    ("subscriptions", _with("subscriptions", mrr="-49"), "negative mrr"),
    (
        "support_tickets",
        _with("support_tickets", ticket_id="K9", resolved_at="2024-01-06 10:00"),
        "resolved_at before opened_at",
    ),
    (
        "support_tickets",
        _with("support_tickets", ticket_id="K9", first_response_at="2024-01-07 07:00"),
        "first_response_at before opened_at",
    ),
    ("support_tickets", _with("support_tickets", ticket_id="K9", csat="6"), "csat outside 1-5"),
    (
        "support_tickets",
        _with("support_tickets", ticket_id="K9", opened_at=""),
        "missing opened_at",
    ),
    ("feedback", _with("feedback", score="11"), "NPS score outside 0-10"),
    ("feedback", _with("feedback", score="-1"), "NPS score outside 0-10"),
    ("feedback", _with("feedback", survey="poll"), "survey not one of nps, exit, csat"),
    ("feedback", _with("feedback", survey="csat", score="0"), "CSAT score outside 1-5"),
    ("feedback", _with("feedback", survey="exit", score="42"), "EXIT score outside 0-10"),
    ("interventions", _with("interventions", arm="holdout"), "arm not one of treatment, control"),
    ("interventions", _with("interventions", cost="-5"), "negative cost"),
    (
        "interventions",
        _with("interventions", arm="control"),
        "duplicate (customer_id, campaign) with conflicting values",
    ),
    (
        "interventions",
        _with("interventions", customer_id="C404", campaign="other"),
        "unknown customer_id",
    ),
    (
        "interventions",
        _with("interventions", campaign="other", treated_at="2030-01-01"),
        "treated_at in the future (after 2026-01-31)",
    ),
    ("events", _with("events", event_type=""), "missing event_type"),
    ("events", _with("events", event_time="yesterday"), "unparseable event_time"),
    (
        "events",
        _with("events", customer_id="C404", event_time="2024-02-30"),
        "unparseable event_time; unknown customer_id",
    ),
]


@pytest.mark.parametrize(("table", "bad_row", "reason"), BAD_ROWS, ids=[r for _, _, r in BAD_ROWS])
def test_bad_row_is_quarantined_with_its_reason(table, bad_row, reason, cleaning_params):
    raw = _raw(table, [bad_row])
    clean, quarantine, report = _clean(table, raw, cleaning_params)
    assert quarantine["quarantine_reason"].tolist() == [reason]
    assert len(clean) == len(VALID[table])
    assert report["rows_in"] == report["rows_clean"] + report["rows_quarantined"]
    # The quarantined row keeps its values as received.
    received = {k: v for k, v in bad_row.items() if v not in ("", None)}
    kept = quarantine.drop(columns="quarantine_reason").iloc[0].dropna().to_dict()
    assert kept == received


@pytest.mark.parametrize("table", RAW_TABLES)
def test_valid_rows_are_typed_and_kept(table, cleaning_params):
    clean, quarantine, report = _clean(table, _raw(table), cleaning_params)
    assert len(quarantine) == 0 and report["rows_clean"] == len(VALID[table])
    for column in clean.columns:
        if column.endswith(("_date", "_at", "_time")):
            assert pd.api.types.is_datetime64_dtype(clean[column]), column


def test_timezone_aware_dates_become_naive_utc(cleaning_params):
    raw = _raw("events", [_with("events", event_time="2024-01-06T12:00:00+02:00")])
    clean, _, _ = _clean("events", raw, cleaning_params)
    assert clean["event_time"].iloc[-1] == pd.Timestamp("2024-01-06 10:00:00")


def test_missing_required_column_names_table_and_column(cleaning_params):
    raw = _raw("transactions").drop(columns="amount")
    with pytest.raises(
        DataContractError,
        match=r"Table 'transactions' is missing required column\(s\) \['amount'\]",
    ):
        _clean("transactions", raw, cleaning_params)


def test_optional_column_may_be_absent(cleaning_params):
    clean, _, _ = _clean(
        "support_tickets", _raw("support_tickets").drop(columns="csat"), cleaning_params
    )
    assert clean["csat"].isna().all()


def test_absent_optional_table_is_skipped(cleaning_params):
    clean, quarantine, report = _clean("events", None, cleaning_params)
    assert report["status"] == "absent" and clean.empty and quarantine.empty
    assert list(clean.columns) == ["customer_id", "event_time", "event_type"]


def test_absent_customers_table_is_an_error(cleaning_params):
    with pytest.raises(DataContractError, match="Required table 'customers' is missing"):
        clean_customers(None, cleaning_params)


def test_neither_subscriptions_nor_transactions_is_an_error():
    present = dict.fromkeys(RAW_TABLES, True) | {"subscriptions": False, "transactions": False}
    with pytest.raises(DataContractError, match="Neither 'subscriptions' nor 'transactions'"):
        check_required_tables(present)
    check_required_tables(present | {"transactions": True})


def test_reconciliation_report_sums_every_table(cleaning_params):
    reports = {}
    for table in RAW_TABLES:
        bad = [row for t, row, _ in BAD_ROWS if t == table]
        reports[table] = _clean(table, _raw(table, bad), cleaning_params)[2]
    quality = reconcile_data_quality(**reports)
    assert quality["totals"]["rows_in"] == sum(len(VALID[t]) for t in RAW_TABLES) + len(BAD_ROWS)
    assert quality["totals"]["rows_quarantined"] == len(BAD_ROWS)
    for report in quality["tables"].values():
        assert sum(report["quarantined_by_reason"].values()) == report["rows_quarantined"]
    assert quality["contract"] == "contractual"


def test_reconciliation_catches_a_lost_row():
    report = {
        "status": "present",
        "rows_in": 3,
        "rows_clean": 1,
        "rows_quarantined": 1,
        "quarantined_by_reason": {},
    }
    with pytest.raises(AssertionError, match="does not reconcile"):
        reconcile_data_quality(**dict.fromkeys(RAW_TABLES, report))


def test_demo_data_cleans_the_same_from_csv_and_parquet(demo_tables, tmp_path, cleaning_params):
    for fmt in ("csv", "parquet"):
        RawTableDataset(
            path=str(tmp_path / fmt / "feedback"), table="feedback", save_format=fmt
        ).save(demo_tables["feedback"])
    customers, _, _, _ = clean_customers(demo_tables["customers"], cleaning_params)
    cleaned = [
        clean_customer_table(
            RawTableDataset(path=str(tmp_path / fmt / "feedback"), table="feedback").load(),
            customers,
            cleaning_params,
            table="feedback",
        )
        for fmt in ("csv", "parquet")
    ]
    pd.testing.assert_frame_equal(cleaned[0][0], cleaned[1][0])
    assert cleaned[0][2] == cleaned[1][2]


def test_unreadable_file_names_table_and_file(tmp_path):
    (tmp_path / "events.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(DatasetError, match=r"Table 'events': could not read .*events\.parquet"):
        RawTableDataset(path=str(tmp_path / "events"), table="events").load()


def test_missing_required_file_says_what_was_expected(tmp_path):
    dataset = RawTableDataset(path=str(tmp_path / "customers"), table="customers", required=True)
    with pytest.raises(
        DatasetError,
        match=r"Required table 'customers' is missing: expected .*customers\.parquet or .*customers\.csv",
    ):
        dataset.load()
    assert RawTableDataset(path=str(tmp_path / "events"), table="events").load() is None


def test_a_table_mostly_quarantined_stops_the_run_with_what_to_do(cleaning_params):
    """Every subscription quarantined (ids in another format, say) would silently turn the
    business non-contractual: the run stops, naming table, share, reasons, rows, parameter."""
    raw = _raw("subscriptions")
    bad = raw.assign(start_date="01/03/2024")  # not ISO 8601: every row unparseable
    customers = _clean("customers", _raw("customers"), cleaning_params)[0]
    reports = {
        table: clean_customer_table(None, customers, cleaning_params, table=table)[2]
        for table in ("transactions", "events", "support_tickets", "feedback")
    }
    reports["customers"] = _clean("customers", _raw("customers"), cleaning_params)[2]
    reports["subscriptions"] = clean_customer_table(
        bad, customers, cleaning_params, table="subscriptions"
    )[2]
    with pytest.raises(DataContractError) as error:
        reconcile_data_quality(0.1, **reports)
    message = str(error.value)
    for expected in (
        "Table 'subscriptions'",
        f"{len(bad)} of {len(bad)} rows (100.0%)",
        "unparseable start_date",
        "01/03/2024",
        "data_cleaning.max_quarantine_share",
    ):
        assert expected in message, expected
    # Raising the share does not let auto switch the business model either.
    with pytest.raises(DataContractError, match="contract: auto cannot tell"):
        reconcile_data_quality(1.0, **reports)


def test_business_model_is_chosen_by_the_contract_parameter_and_says_why():
    assert business_model("auto", 10, 0) == (
        "contractual",
        "auto: the subscriptions table has 10 clean rows",
    )
    assert business_model("auto", 0, 5)[0] == "non-contractual"
    model, why = business_model("non_contractual", 10, 5)
    assert model == "non-contractual" and "10 subscription rows not used" in why
    with pytest.raises(DataContractError, match="'subscriptions' has no clean rows"):
        business_model("contractual", 0, 5)
    with pytest.raises(DataContractError, match="'transactions' has no clean rows"):
        business_model("non_contractual", 10, 0)
    with pytest.raises(DataContractError, match="is not one of"):
        business_model("subscription", 10, 0)
