"""The contract's rules (:class:`customer_retention.core.contract.Rule`) compiled to DuckDB SQL over typed columns."""

from __future__ import annotations

from typing import Any

import pandas as pd

from customer_retention.core.contract import Rule


def quote(name: str) -> str:
    """A SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A SQL literal for a rule bound (text, number or timestamp)."""
    if isinstance(value, pd.Timestamp):
        return f"TIMESTAMP_NS '{value.isoformat(sep=' ')}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"Unsupported rule bound {value!r}")
    return f"CAST({value!r} AS DOUBLE)"


def _test_fails(rule: Rule, value: str) -> str:
    """SQL that is true where the non-missing ``value`` fails the rule's test."""
    if rule.test == "empty":
        return f"{value} = ''"
    if rule.test == "below":
        return f"{value} < {literal(rule.bound)}"
    if rule.test == "above":
        return f"{value} > {literal(rule.bound)}"
    if rule.test == "outside":
        low, high = rule.bound
        return f"({value} < {literal(low)} OR {value} > {literal(high)})"
    if rule.test == "not_in":
        return f"{value} NOT IN ({', '.join(literal(v) for v in rule.bound)})"
    if rule.test == "before":
        return f"({quote(rule.bound)} IS NOT NULL AND {value} < {quote(rule.bound)})"
    raise ValueError(f"Unknown rule test {rule.test!r}")


def rule_fires_sql(rule: Rule) -> str:
    """A boolean SQL expression (never NULL): the rule quarantines the row."""
    value = quote(rule.column)
    if rule.test == "missing":
        fires = f"{value} IS NULL"
    else:
        fires = f"({value} IS NOT NULL AND {_test_fails(rule, value)})"
    if rule.only_if is not None:
        column, expected = rule.only_if
        fires = f"({fires} AND {quote(column)} IS NOT DISTINCT FROM {literal(expected)})"
    return f"COALESCE({fires}, FALSE)"


def rule_reasons_sql(rules: list[Rule]) -> str:
    """SQL for the reasons of the rules a row breaks, in order, joined with "; " (NULL: none)."""
    if not rules:
        return "CAST(NULL AS VARCHAR)"
    parts = [f"CASE WHEN {rule_fires_sql(rule)} THEN {literal(rule.reason)} END" for rule in rules]
    return f"NULLIF(concat_ws('; ', {', '.join(parts)}), '')"
