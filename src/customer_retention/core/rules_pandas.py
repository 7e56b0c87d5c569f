"""The contract's rules (:class:`customer_retention.core.contract.Rule`) evaluated on a typed pandas frame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .contract import Rule


def _present(values: pd.Series) -> np.ndarray:
    return values.notna().to_numpy(dtype=bool)


def _test_fails(rule: Rule, values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """Where the non-missing ``values`` fail the rule's test (missing values: anything)."""
    if rule.test == "empty":
        return values == ""
    if rule.test == "below":
        return values < rule.bound
    if rule.test == "above":
        return values > rule.bound
    if rule.test == "outside":
        low, high = rule.bound
        return (values < low) | (values > high)
    if rule.test == "not_in":
        return ~values.isin(list(rule.bound))
    if rule.test == "before":
        other = frame[rule.bound]
        return (values < other).where(other.notna(), False)
    raise ValueError(f"Unknown rule test {rule.test!r}")


def rule_fires(rule: Rule, frame: pd.DataFrame) -> np.ndarray:
    """Boolean array: the rows of the typed ``frame`` the rule quarantines."""
    values = frame[rule.column]
    if rule.test == "missing":
        fires = ~_present(values)
    else:
        failing = _test_fails(rule, values, frame)
        fires = _present(values) & pd.Series(failing).fillna(False).to_numpy(dtype=bool)
    if rule.only_if is not None:
        column, value = rule.only_if
        fires &= (frame[column] == value).fillna(False).to_numpy(dtype=bool)
    return fires


def rule_reasons(rules: list[Rule], frame: pd.DataFrame) -> pd.Series:
    """One reason string per row of ``frame``: the reasons of the rules it breaks, in order,
    joined with "; " ('' = the row passes every rule)."""
    reasons = pd.Series("", index=frame.index, dtype=object)
    for rule in rules:
        fires = rule_fires(rule, frame)
        current = reasons[fires]
        reasons[fires] = np.where(current == "", rule.reason, current + "; " + rule.reason)
    return reasons
