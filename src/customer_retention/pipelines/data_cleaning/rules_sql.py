"""The contract's rules (:class:`customer_retention.core.contract.Rule`) compiled to SQL over
typed columns, for each engine that cleans: DuckDB and Spark.

Each rule becomes one sqlglot expression, rendered in the engine's dialect (identifiers, string
escapes, timestamp literals and ``IS NOT DISTINCT FROM`` differ: Spark reads ``"x"`` as a
string, not a column). The DuckDB and Spark paths therefore evaluate the same expression.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlglot.expressions as exp

from customer_retention.core.contract import Rule

DIALECTS = ("duckdb", "spark")
# A timestamp without time zone: DuckDB's TIMESTAMP, Spark's TIMESTAMP_NTZ.
_TIMESTAMP = exp.DataType.build("TIMESTAMPNTZ")


def quote(name: str, dialect: str = "duckdb") -> str:
    """A SQL identifier."""
    return column(name).sql(dialect=dialect)


def column(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def literal_expression(value: Any) -> exp.Expression:
    """A SQL literal for a rule bound (text, number or timestamp)."""
    if isinstance(value, pd.Timestamp):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), _TIMESTAMP.copy())
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"Unsupported rule bound {value!r}")
    return exp.cast(exp.Literal.number(repr(value)), "DOUBLE")


def literal(value: Any, dialect: str = "duckdb") -> str:
    """A SQL literal for a rule bound, in ``dialect``."""
    return literal_expression(value).sql(dialect=dialect)


def _present(value: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))


def _test_fails(rule: Rule, value: exp.Column) -> exp.Expression:
    """True where the non-missing ``value`` fails the rule's test."""
    if rule.test == "empty":
        return exp.EQ(this=value, expression=exp.Literal.string(""))
    if rule.test == "below":
        return exp.LT(this=value, expression=literal_expression(rule.bound))
    if rule.test == "above":
        return exp.GT(this=value, expression=literal_expression(rule.bound))
    if rule.test == "outside":
        low, high = rule.bound
        return exp.paren(
            exp.or_(
                exp.LT(this=value.copy(), expression=literal_expression(low)),
                exp.GT(this=value.copy(), expression=literal_expression(high)),
            )
        )
    if rule.test == "not_in":
        return exp.Not(
            this=exp.In(this=value, expressions=[literal_expression(v) for v in rule.bound])
        )
    if rule.test == "before":
        other = column(rule.bound)
        return exp.paren(exp.and_(_present(other), exp.LT(this=value, expression=other.copy())))
    raise ValueError(f"Unknown rule test {rule.test!r}")


def rule_fires_expression(rule: Rule) -> exp.Expression:
    """A boolean expression (never NULL): the rule quarantines the row."""
    value = column(rule.column)
    if rule.test == "missing":
        fires: exp.Expression = exp.Is(this=value, expression=exp.Null())
    else:
        fires = exp.paren(exp.and_(_present(value), _test_fails(rule, value.copy())))
    if rule.only_if is not None:
        only_column, expected = rule.only_if
        same = exp.NullSafeEQ(this=column(only_column), expression=literal_expression(expected))
        fires = exp.paren(exp.and_(fires, same))
    return exp.Coalesce(this=fires, expressions=[exp.false()])


def rule_fires_sql(rule: Rule, dialect: str = "duckdb") -> str:
    """A boolean SQL expression (never NULL) in ``dialect``: the rule quarantines the row."""
    return rule_fires_expression(rule).sql(dialect=dialect)


def rule_reasons_sql(rules: list[Rule], dialect: str = "duckdb") -> str:
    """SQL for the reasons of the rules a row breaks, in order, joined with "; " (NULL: none).

    ``concat_ws`` skips NULLs in both engines; it is written as a plain function call because
    sqlglot would rewrite its own ``ConcatWs`` to return NULL when any argument is NULL."""
    if not rules:
        return exp.cast(exp.Null(), "VARCHAR").sql(dialect=dialect)
    parts = [
        exp.Case(ifs=[exp.If(this=rule_fires_expression(r), true=exp.Literal.string(r.reason))])
        for r in rules
    ]
    joined = exp.Anonymous(this="concat_ws", expressions=[exp.Literal.string("; "), *parts])
    return exp.Nullif(this=joined, expression=exp.Literal.string("")).sql(dialect=dialect)
