"""What each extra customers column is taken to be, and the columns stages select from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customer_retention.core import attributes

N = 200
PARAMS = {"types": {}, "max_levels": 50, "max_segment_levels": 10}


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    charges = rng.uniform(20, 120, N).round(2).astype(str).astype(object)
    charges[:3] = [" ", "", None]  # blanks as exports write them
    return pd.DataFrame(
        {
            "row_number": np.arange(1, N + 1),  # an identifier posing as a number
            "account_code": [f"AC{i:05d}" for i in range(N)],  # text identifier
            "surname": rng.choice([f"name{i}" for i in range(120)], N),  # many levels
            "note": [f"customer asked about invoice {i} twice" for i in range(N)],
            "charges": charges,  # numbers as text, with blanks
            "score": rng.integers(300, 850, N),  # typed integers
            "flag": rng.choice(["Yes", "No"], N),
            "region": rng.choice(["north", "south", "east"], N),
            "country": "DE",  # one value
            "signed": rng.choice([True, False], N),
        }
    )


def test_every_kind_is_recognised():
    table = _table()
    parsed, profile = attributes.profile_attributes(table, list(table.columns), PARAMS)
    kinds = {c: info["kind"] for c, info in profile["columns"].items()}
    assert kinds == {
        "row_number": "identifier",
        "account_code": "identifier",
        "surname": "high_cardinality",
        "note": "free_text",
        "charges": "numeric",
        "score": "numeric",
        "flag": "categorical",
        "region": "categorical",
        "country": "constant",
        "signed": "numeric",
    }
    assert profile["columns"]["charges"]["blanks"] == 3
    assert parsed["charges"].dtype == "float64" and parsed["charges"].isna().sum() == 3
    assert parsed["charges"][3:].to_numpy() == pytest.approx(table["charges"][3:].astype(float))
    assert [c for c, i in profile["columns"].items() if i["segment"]] == ["flag", "region"]
    assert attributes.covariates(profile) == ["charges", "score", "flag", "region", "signed"]
    assert attributes.covariates(profile, exclude=["score"]) == [
        "charges",
        "flag",
        "region",
        "signed",
    ]
    assert "surname" in attributes.model_inputs(profile)
    assert not {"row_number", "note", "country"} & set(attributes.model_inputs(profile))


def test_declared_types_win_and_unparseable_numbers_are_counted():
    table = _table().assign(charges=lambda t: t["charges"].where(t.index != 10, "n/a"))
    # One typo in 197 numbers: still numeric, the typo counted and set missing.
    _, inferred = attributes.profile_attributes(table, ["charges"], PARAMS)
    assert inferred["columns"]["charges"] | {"why": "", "levels": 0} == {
        "kind": "numeric",
        "why": "",
        "levels": 0,
        "blanks": 3,
        "unparseable": 1,
        "segment": False,
    }
    # Mostly text: not numeric.
    words = table.assign(charges=np.where(table.index % 3 == 0, "unknown", table["charges"]))
    _, mostly_text = attributes.profile_attributes(words, ["charges"], PARAMS)
    assert mostly_text["columns"]["charges"]["kind"] != "numeric"
    declared = PARAMS | {
        "types": {"charges": "numeric", "score": "categorical", "surname": "ignore"}
    }
    parsed, profile = attributes.profile_attributes(
        table, ["charges", "score", "surname"], declared
    )
    info = profile["columns"]
    assert info["charges"]["kind"] == "numeric" and info["charges"]["unparseable"] == 1
    assert parsed["charges"].isna().sum() == 4  # 3 blanks + "n/a"
    # Declared categorical, but with more levels than max_levels: not a Cox covariate.
    assert info["score"]["kind"] == "high_cardinality" and "declared" in info["score"]["why"]
    assert info["surname"]["kind"] == "ignored"


@pytest.mark.parametrize(
    ("types", "message"),
    [({"nope": "numeric"}, "does not have"), ({"flag": "number"}, "unknown type")],
)
def test_a_wrong_declaration_is_a_clear_error(types, message):
    table = _table()
    with pytest.raises(ValueError, match=message):
        attributes.profile_attributes(table, list(table.columns), PARAMS | {"types": types})


def test_segments_auto_or_configured():
    table = _table()
    _, profile = attributes.profile_attributes(table, list(table.columns), PARAMS)
    assert attributes.segments(profile, "auto") == ["flag", "region"]
    assert attributes.segments(profile, ["region", "plan"]) == ["region"]  # plan: absent
    plan = {"segments": ["flag", "region"]}
    assert attributes.chosen_segments("auto", plan) == ["flag", "region"]
    assert attributes.chosen_segments(["region"], plan) == ["region"]


def test_a_repeated_row_does_not_turn_an_identifier_into_a_feature():
    """The profile is taken on the clean rows: the duplicate goes to quarantine first."""
    from customer_retention.pipelines.data_cleaning.nodes import clean_customers

    from ..conftest import load_parameters

    table = _table()[["row_number", "account_code", "charges"]].assign(
        customer_id=[f"C{i}" for i in range(N)], signup_date="2024-01-01"
    )
    raw = pd.concat([table, table.iloc[[5]]], ignore_index=True).astype(str)
    params = load_parameters("data_cleaning") | {"reference_date": "2026-01-31"}
    clean, quarantine, _, profile = clean_customers(raw, params)
    assert quarantine["quarantine_reason"].tolist() == ["duplicate row"]
    kinds = {c: info["kind"] for c, info in profile["columns"].items()}
    assert kinds == {"row_number": "identifier", "account_code": "identifier", "charges": "numeric"}
    assert clean["charges"].dtype == "float64" and len(clean) == N
