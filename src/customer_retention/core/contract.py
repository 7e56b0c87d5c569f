"""The data contract: one :class:`TableSpec` per input table, and its row-level rules.

A spec says which columns a table must have, how each is parsed, and which rules its rows must
satisfy. Every rule is a plain :class:`Rule` record (column, test, bound, quarantine reason),
defined once here; ``core/rules_pandas.py`` evaluates it on a pandas frame and the cleaning stage's ``rules_sql.py``
compiles it to DuckDB SQL, so the pandas and the DuckDB cleaning paths cannot disagree on what
a rule is. The pandera schema of the clean table is built from the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from customer_retention.core.errors import ActionableError

# Column kinds and the dtype each is parsed to. Text is Arrow-backed: string operations run in
# Arrow's compute kernels, not one Python call per value (10x faster on millions of events).
TEXT_DTYPE = "string[pyarrow]"
DTYPES = {"id": TEXT_DTYPE, "date": "datetime64[ns]", "number": "float64", "text": TEXT_DTYPE}

# What a rule tests. A rule fires (the row is quarantined with ``reason``) when:
#   missing  the value is missing
#   empty    the value is the empty string
#   below    the value is < bound
#   above    the value is > bound
#   outside  the value is outside [bound[0], bound[1]]
#   not_in   the value is not one of bound (a tuple)
#   before   the value is before the value of column ``bound``
# Except for ``missing``, a rule never fires on a missing value (or a missing ``before`` column):
# the missing value has its own rule when the column is required.
RULE_TESTS = ("missing", "empty", "below", "above", "outside", "not_in", "before")


@dataclass(frozen=True)
class Rule:
    """One row-level rule of the contract.

    Attributes:
        reason: the quarantine reason written when the rule fires.
        column: the column tested.
        test: one of :data:`RULE_TESTS`.
        bound: the test's bound (see :data:`RULE_TESTS`).
        only_if: ``(column, value)``: the rule applies only to rows whose ``column`` equals
            ``value`` (e.g. the NPS range only to NPS answers).
    """

    reason: str
    column: str
    test: str
    bound: Any = None
    only_if: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.test not in RULE_TESTS:
            raise ValueError(f"Unknown rule test {self.test!r}; expected one of {RULE_TESTS}")


@dataclass(frozen=True)
class TableSpec:
    """What the contract says about one table.

    Attributes:
        name: table name (``customers``, ``events``, ...).
        columns: column name -> kind (``id``, ``date``, ``number``, ``text``), in output order.
        nullable: columns that may hold empty values.
        optional_columns: columns that may be absent from the file (added as empty).
        key: column (or tuple of columns) whose values must be unique (``None``: only exact
            duplicate rows are removed).
        required: whether the table itself must be present.
        keep_extra_columns: keep columns not in the contract (customers' static attributes).
    """

    name: str
    columns: dict[str, str]
    nullable: frozenset[str] = field(default_factory=frozenset)
    optional_columns: frozenset[str] = field(default_factory=frozenset)
    key: str | tuple[str, ...] | None = None
    required: bool = False
    keep_extra_columns: bool = False

    @property
    def key_columns(self) -> list[str]:
        """The key's columns (empty without a key)."""
        if self.key is None:
            return []
        return [self.key] if isinstance(self.key, str) else list(self.key)

    @property
    def key_name(self) -> str:
        """The key as named in quarantine reasons: ``ticket_id``, ``(customer_id, campaign)``."""
        columns = self.key_columns
        return columns[0] if len(columns) == 1 else f"({', '.join(columns)})"

    @property
    def required_columns(self) -> list[str]:
        return [column for column in self.columns if column not in self.optional_columns]

    def rules(self, params: dict[str, Any]) -> list[Rule]:
        """Every rule of the table under the cleaning parameters ``params``, in reason order.

        Reasons of a row that breaks several rules are joined with "; " in this order: the
        rules across columns first, then each column's rules in contract order.
        """
        rules = [rule(params) for rule in _ROW_RULES.get(self.name, [])]
        for column, kind in self.columns.items():
            rules += self.column_rules(column, kind, params)
        return rules

    def column_rules(self, column: str, kind: str, params: dict[str, Any]) -> list[Rule]:
        """The rules of one column: required, then the rules of its kind, then its own."""
        rules = [] if column in self.nullable else [Rule(f"missing {column}", column, "missing")]
        if kind == "date":
            earliest = pd.Timestamp(params["earliest_valid_date"])
            latest = pd.Timestamp(params["reference_date"])
            rules += [
                Rule(f"{column} before {earliest.date()}", column, "below", earliest),
                Rule(f"{column} in the future (after {latest.date()})", column, "above", latest),
            ]
        if kind == "id":
            rules.append(Rule(f"empty {column}", column, "empty"))
        return rules + [rule(params) for rule in _COLUMN_RULES.get((self.name, column), [])]

    def schema(self, params: dict[str, Any], extra_columns: dict[str, Any] | None = None):
        """The pandera schema of the clean table: contract dtypes, and no rule fires."""
        import pandera.pandas as pa

        from .rules_pandas import rule_fires

        columns = {
            column: pa.Column(DTYPES[kind], nullable=column in self.nullable)
            for column, kind in self.columns.items()
        }
        for column, dtype in (extra_columns or {}).items():
            columns[column] = pa.Column(dtype, nullable=True)
        checks = [
            pa.Check(
                lambda df, r=rule: pd.Series(~rule_fires(r, df), index=df.index),
                error=rule.reason,
                ignore_na=False,
            )
            for rule in self.rules(params)
            if rule.test != "missing"  # pandera's own not-nullable check covers these
        ]
        return pa.DataFrameSchema(columns, checks=checks, strict=True, name=self.name)


def _money_rules(column: str) -> list:
    def limit(params: dict[str, Any]) -> Rule:
        ceiling = params[f"max_{column}"]
        return Rule(f"{column} above {ceiling:,}", column, "above", ceiling)

    return [lambda params: Rule(f"negative {column}", column, "below", 0), limit]


def _not_before(later: str, earlier: str):
    return lambda params: Rule(f"{later} before {earlier}", later, "before", earlier)


def _score_range(survey: str, low: int, high: int):
    return lambda params: Rule(
        f"{survey.upper()} score outside {low}-{high}",
        "score",
        "outside",
        (low, high),
        ("survey", survey),
    )


def _survey_types(params: dict[str, Any]) -> Rule:
    allowed = tuple(params["survey_types"])
    return Rule(f"survey not one of {', '.join(allowed)}", "survey", "not_in", allowed)


INTERVENTION_ARMS = ("treatment", "control")


def _intervention_arms(params: dict[str, Any]) -> Rule:
    return Rule(
        f"arm not one of {', '.join(INTERVENTION_ARMS)}", "arm", "not_in", INTERVENTION_ARMS
    )


LOWERCASE_COLUMNS = frozenset({"survey", "arm"})
"""Text columns compared case-insensitively: lower-cased when parsed (both cleaning paths)."""


# Rules of one column beyond its kind's (dates in range, ids not empty, required columns).
_COLUMN_RULES = {
    ("subscriptions", "mrr"): _money_rules("mrr"),
    ("transactions", "amount"): _money_rules("amount"),
    ("support_tickets", "csat"): [
        lambda params: Rule("csat outside 1-5", "csat", "outside", (1, 5))
    ],
    ("feedback", "survey"): [_survey_types],
    ("interventions", "arm"): [_intervention_arms],
    ("interventions", "cost"): [lambda params: Rule("negative cost", "cost", "below", 0)],
}
# Rules across columns (checked first).
_ROW_RULES = {
    "subscriptions": [_not_before("end_date", "start_date")],
    "support_tickets": [
        _not_before("first_response_at", "opened_at"),
        _not_before("resolved_at", "opened_at"),
    ],
    "feedback": [
        _score_range("nps", 0, 10),
        _score_range("csat", 1, 5),
        _score_range("exit", 0, 10),
    ],
}

TABLE_SPECS: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "customers",
            {"customer_id": "id", "signup_date": "date"},
            key="customer_id",
            required=True,
            keep_extra_columns=True,
        ),
        TableSpec(
            "subscriptions",
            {
                "customer_id": "id",
                "start_date": "date",
                "end_date": "date",
                "plan": "text",
                "mrr": "number",
            },
            nullable=frozenset({"end_date", "plan"}),
        ),
        TableSpec(
            "transactions",
            {
                "transaction_id": "id",
                "customer_id": "id",
                "transaction_date": "date",
                "amount": "number",
            },
            key="transaction_id",
        ),
        TableSpec(
            "events",
            {"customer_id": "id", "event_time": "date", "event_type": "text"},
        ),
        TableSpec(
            "support_tickets",
            {
                "ticket_id": "id",
                "customer_id": "id",
                "opened_at": "date",
                "first_response_at": "date",
                "resolved_at": "date",
                "csat": "number",
            },
            nullable=frozenset({"first_response_at", "resolved_at", "csat"}),
            optional_columns=frozenset({"csat"}),
            key="ticket_id",
        ),
        TableSpec(
            "feedback",
            {
                "customer_id": "id",
                "response_date": "date",
                "survey": "text",
                "score": "number",
                "reason": "text",
                "comment": "text",
            },
            nullable=frozenset({"score", "reason", "comment"}),
            optional_columns=frozenset({"reason", "comment"}),
        ),
        # Retention actions: who was treated (or held out as a control) in which campaign.
        TableSpec(
            "interventions",
            {
                "customer_id": "id",
                "campaign": "text",
                "treated_at": "date",
                "arm": "text",
                "action": "text",
                "cost": "number",
            },
            nullable=frozenset({"action", "cost"}),
            optional_columns=frozenset({"action", "cost"}),
            key=("customer_id", "campaign"),
        ),
    )
}
# Only customers plus one of these is required (contractual or non-contractual business).
REVENUE_TABLES = ("subscriptions", "transactions")
RAW_TABLES = tuple(TABLE_SPECS)
"""Every input table of the contract, in contract order (customers first)."""


class DataContractError(ActionableError, ValueError):
    """The input does not follow the data contract (missing table or column)."""


def check_required_tables(present: dict[str, bool]) -> None:
    """Raise unless customers and at least one of subscriptions / transactions are present."""
    if not present.get("customers", False):
        raise DataContractError("Required table 'customers' is missing from data/01_raw.")
    if not any(present.get(table, False) for table in REVENUE_TABLES):
        raise DataContractError(
            "Neither 'subscriptions' nor 'transactions' is present in data/01_raw: at least one "
            "is required (subscriptions for a contractual business, transactions otherwise)."
        )


CONTRACT_CHOICES = ("auto", "contractual", "non_contractual")
"""Values of the ``contract`` parameter (globals.yml): the business model."""


def business_model(
    choice: str, subscription_rows: int, transaction_rows: int, raw_subscription_rows: int = 0
) -> tuple[str, str]:
    """The business model a run analyses, ``contractual`` or ``non-contractual``, and why.

    ``choice`` is the ``contract`` parameter. ``auto`` picks contractual when the clean
    subscriptions table has rows; it refuses to decide when the raw table had rows and none
    survived cleaning, since quarantine must not turn a subscription business into a purchase
    business. An explicit choice needs the table it rests on.

    Raises:
        DataContractError: the choice is unknown, or the data cannot support it.
    """
    if choice not in CONTRACT_CHOICES:
        raise DataContractError(
            f"contract = {choice!r} is not one of {', '.join(CONTRACT_CHOICES)} (globals.yml)."
        )
    if choice == "contractual":
        if not subscription_rows:
            raise DataContractError(
                "contract is 'contractual' but table 'subscriptions' has no clean rows: add the "
                "subscriptions export, or set contract: non_contractual (conf/local/globals.yml)."
            )
        return "contractual", "set by the contract parameter"
    if choice == "non_contractual":
        if not transaction_rows:
            raise DataContractError(
                "contract is 'non_contractual' but table 'transactions' has no clean rows: add "
                "the purchase log, or set contract: contractual (conf/local/globals.yml)."
            )
        ignored = (
            f" ({subscription_rows:,} subscription rows not used)" if subscription_rows else ""
        )
        return "non-contractual", f"set by the contract parameter{ignored}"
    if subscription_rows:
        return "contractual", f"auto: the subscriptions table has {subscription_rows:,} clean rows"
    if raw_subscription_rows:
        raise DataContractError(
            f"Table 'subscriptions' has {raw_subscription_rows:,} rows but none is clean, so "
            "contract: auto cannot tell the business model. Fix the export (see data/02_"
            "intermediate/quarantine/subscriptions.parquet), or set contract: non_contractual "
            "in conf/local/globals.yml to analyse purchases only."
        )
    return "non-contractual", "auto: there is no subscriptions table, only purchases"
