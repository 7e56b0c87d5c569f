"""Typed parsing, validation, deduplication and quarantine of the raw tables.

Every raw row ends in exactly one place: the clean table or the table's quarantine, where it
keeps its values as received (as text) and a ``quarantine_reason``. The data-quality report reconciles
rows in = rows clean + rows quarantined for every table.

Two paths apply the same rules (:mod:`customer_retention.core.contract`): this module's pandas path, the reference, for
``customers``, CSV files and text dates or numbers; and :mod:`.engine`, which cleans a typed
Parquet table inside DuckDB without loading its rows into pandas (:func:`clean_customer_table`
picks the path). In the ``spark`` environment the typed Parquet tables are cleaned on Spark
instead (:mod:`.engine_spark`, the same steps in Spark SQL).
"""

from __future__ import annotations

import logging
from contextlib import closing
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from kedro.io import DatasetError

from customer_retention.core.attributes import profile_attributes
from customer_retention.core.contract import (
    DTYPES,
    LOWERCASE_COLUMNS,
    TABLE_SPECS,
    TEXT_DTYPE,
    DataContractError,
    TableSpec,
    business_model,
    check_required_tables,
)
from customer_retention.core.engines import run_spark_session
from customer_retention.core.rules_pandas import rule_reasons
from customer_retention.datasets.clean_table import StagedParquet
from customer_retention.datasets.raw_source import RawTableFile

from . import engine, engine_spark

logger = logging.getLogger(__name__)
QUARANTINE_REASON = "quarantine_reason"


def resolve_rules(params: dict[str, Any]) -> dict[str, Any]:
    """Cleaning parameters with the reference date resolved (``null`` = today, UTC)."""
    reference = params.get("reference_date") or pd.Timestamp.now(tz="UTC").tz_localize(None)
    return {**params, "reference_date": str(pd.Timestamp(reference).normalize())}


def _parse_column(values: pd.Series, kind: str) -> pd.Series:
    """Parse one raw column to its contract dtype; unparseable values become missing."""
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(values):
            parsed = values
        else:
            parsed = pd.to_datetime(
                values.astype("string"), errors="coerce", format="ISO8601", utc=True
            )
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        parsed = parsed.astype("datetime64[ns]")
        # Microseconds, as DuckDB and Spark hold them (and every Parquet file is written).
        return parsed.dt.floor("us") if (parsed.dt.nanosecond != 0).any() else parsed
    if kind == "number":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    text = _as_text(values).str.strip()
    return text.mask(text == "", pd.NA) if kind == "text" else text


def _as_text(values: pd.Series) -> pd.Series:
    """``values`` as Arrow-backed text; typed input (integer ids, categories) is cast by Arrow."""
    if not isinstance(values.dtype, pd.CategoricalDtype) and (
        pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
    ):
        return values.astype(TEXT_DTYPE)
    arrow = pa.array(values, from_pandas=True)
    if pa.types.is_dictionary(arrow.type):
        arrow = arrow.dictionary_decode()
    text = pd.arrays.ArrowStringArray(pc.cast(arrow, pa.string()))
    return pd.Series(text, index=values.index, name=values.name)


def _unparseable(values: pd.Series, parsed: pd.Series) -> pd.Series:
    """Rows with a non-blank raw value that did not parse (only text input can fail to parse)."""
    failed = values.notna() & parsed.isna()
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return failed
    return failed & (_as_text(values).str.strip() != "")


def _is_in(values: pd.Series, allowed: pd.Series) -> np.ndarray:
    """``values.isin(allowed)`` for text, computed by Arrow (pandas loops in Python here)."""
    found = pc.is_in(pa.array(_as_text(values).array), value_set=pa.array(_as_text(allowed).array))
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def _factor_codes(column: pd.Series) -> np.ndarray:
    """Integer codes with equal codes for equal values (missing values share one code)."""
    if isinstance(column.dtype, pd.StringDtype):
        codes = pc.dictionary_encode(pa.array(column.array)).indices
        return pc.fill_null(codes, -1).to_numpy(zero_copy_only=False)
    if pd.api.types.is_datetime64_dtype(column):
        return column.to_numpy().view("int64")  # NaT is one value
    if pd.api.types.is_float_dtype(column):
        return np.nan_to_num(column.to_numpy() + 0.0, nan=np.inf).view("int64")  # -0.0 == 0.0
    return pd.factorize(column, use_na_sentinel=True)[0]


def _duplicated_rows(frame: pd.DataFrame) -> np.ndarray:
    """``frame.duplicated(keep="first")``: every repeat of an earlier row, as a boolean array.

    A stable lexicographic sort of per-column integer codes puts equal rows next to each other
    in their original order, so a row is a repeat when it equals its predecessor. Several times
    faster than pandas' own on millions of rows with text columns.
    """
    if frame.empty:
        return np.zeros(len(frame), dtype=bool)
    codes = [_factor_codes(frame[column]) for column in frame.columns]
    order = np.lexsort(codes[::-1])
    same_as_previous = np.ones(len(order) - 1, dtype=bool)
    for column_codes in codes:
        in_order = column_codes[order]
        same_as_previous &= in_order[1:] == in_order[:-1]
    repeated = np.zeros(len(frame), dtype=bool)
    repeated[order[1:][same_as_previous]] = True
    return repeated


def _add_reason(reasons: pd.Series, mask: pd.Series | np.ndarray, reason: str) -> None:
    mask = np.asarray(mask, dtype=bool)
    current = reasons[mask]
    reasons[mask] = np.where(current == "", reason, current + "; " + reason)


def clean_table(
    raw: pd.DataFrame | None,
    spec: TableSpec,
    params: dict[str, Any],
    known_customer_ids: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Split a raw table into (clean, quarantine, report) under the contract ``spec``.

    Raises:
        DataContractError: the table is required but absent, or a required column is missing.
    """
    rules = resolve_rules(params)
    if raw is None:
        if spec.required:
            raise DataContractError(f"Required table '{spec.name}' is missing from data/01_raw.")
        logger.info("Table %s is absent: the features built from it are skipped", spec.name)
        empty = pd.DataFrame({c: pd.Series(dtype=DTYPES[k]) for c, k in spec.columns.items()})
        return (
            empty,
            _quarantine_frame(pd.DataFrame(columns=list(spec.columns))),
            {
                "status": "absent",
                "rows_in": 0,
                "rows_clean": 0,
                "rows_quarantined": 0,
                "quarantined_by_reason": {},
            },
        )

    _require_columns(spec, list(raw.columns))
    raw = raw.reset_index(drop=True)
    extra = [c for c in raw.columns if c not in spec.columns] if spec.keep_extra_columns else []
    typed = pd.DataFrame(index=raw.index)
    reasons = pd.Series("", index=raw.index, dtype=object)
    for column, kind in spec.columns.items():
        values = raw[column] if column in raw.columns else pd.Series(pd.NA, index=raw.index)
        typed[column] = _parse_column(values, kind)
        _add_reason(reasons, _unparseable(values, typed[column]), f"unparseable {column}")
    for column in extra:  # as text for the duplicate checks; typed below, on the clean rows
        typed[column] = _parse_column(raw[column], "text")
    for column in LOWERCASE_COLUMNS & set(typed.columns):
        typed[column] = typed[column].str.lower()

    parsed_ok = reasons == ""
    reasons[parsed_ok] = rule_reasons(spec.rules(rules), typed[parsed_ok])
    if known_customer_ids is not None:
        unknown = typed["customer_id"].notna() & ~_is_in(typed["customer_id"], known_customer_ids)
        _add_reason(reasons, unknown, "unknown customer_id")
    valid = reasons == ""
    _add_reason(reasons, valid & _duplicated_rows(typed), "duplicate row")
    if spec.key is not None:
        valid = reasons == ""
        keys = typed[spec.key_columns]
        conflicting = valid & _duplicated_rows(keys.where(valid)) & keys.notna().all(axis=1)
        _add_reason(reasons, conflicting, f"duplicate {spec.key_name} with conflicting values")

    bad = reasons != ""
    clean_rows, attributes = typed[~bad], None
    if extra:
        # Profiled on the clean rows only: a repeated row or a quarantined one must not make
        # an identifier look like a repeated value (and so a model input).
        parsed, attributes = profile_attributes(raw[~bad], extra, params.get("attributes") or {})
        clean_rows = clean_rows.assign(**parsed)
    clean = spec.schema(rules, {c: clean_rows[c].dtype for c in extra}).validate(
        clean_rows.reset_index(drop=True)
    )
    quarantine = _quarantine_frame(raw[bad], reasons[bad])
    report = {
        "status": "present",
        "rows_in": len(raw),
        "rows_clean": len(clean),
        "rows_quarantined": int(bad.sum()),
        "quarantined_by_reason": {k: int(v) for k, v in reasons[bad].value_counts().items()},
    }
    if attributes is not None:
        report["attributes"] = attributes
    report["quarantine_sample"] = quarantine_sample(quarantine)
    _log_quarantine(spec.name, report)
    return clean, quarantine, report


SAMPLE_ROWS = 3


def quarantine_sample(quarantine: pd.DataFrame) -> list[dict[str, Any]]:
    """The first quarantined rows as received, with their reasons (for the error that stops a
    run with too many of them)."""
    head = quarantine.head(SAMPLE_ROWS).astype(object)
    return head.where(head.notna(), None).to_dict("records")


def _require_columns(spec: TableSpec, columns: list[str]) -> None:
    """Raise :class:`DataContractError` naming the required columns absent from ``columns``."""
    missing = [column for column in spec.required_columns if column not in columns]
    if missing:
        raise DataContractError(
            f"Table '{spec.name}' is missing required column(s) {missing}; expected columns "
            f"{spec.required_columns} (found {columns})."
        )


def _log_quarantine(table: str, report: dict[str, Any]) -> None:
    if report["rows_quarantined"]:
        logger.warning(
            "Table %s: %s of %s rows quarantined: %s",
            table,
            f"{report['rows_quarantined']:,}",
            f"{report['rows_in']:,}",
            report["quarantined_by_reason"],
        )


def _quarantine_frame(rows: pd.DataFrame, reasons: pd.Series | None = None) -> pd.DataFrame:
    """Quarantined rows as received, every value as text, plus ``quarantine_reason`` last.

    (Not ``reason``: feedback already has a column of that name.)
    """
    as_text = rows.astype("string")
    as_text[QUARANTINE_REASON] = pd.Series(reasons, dtype="string")
    return as_text.reset_index(drop=True)


def clean_customers(
    customers_raw: pd.DataFrame | None, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Clean the customers table (required; unique customer_id) and profile its attributes.

    Every column beyond customer_id and signup_date is an attribute; each is parsed and given
    a kind (numeric, categorical, high-cardinality, identifier, free text, ...) by
    :func:`customer_retention.core.attributes.profile_attributes`, returned apart as
    ``customer_attributes`` for the stages that choose covariates and segments.
    """
    clean, quarantine, report = clean_table(customers_raw, TABLE_SPECS["customers"], params)
    attributes = report.get("attributes")
    if attributes is None:  # no attribute columns: the empty profile, with its settings
        attributes = profile_attributes(pd.DataFrame(), [], params.get("attributes") or {})[1]
    if clean.empty:
        raise DataContractError(
            "Table 'customers' has no rows: the file holds only a header."
            if report["rows_in"] == 0
            else f"Table 'customers': all {report['rows_in']:,} rows were quarantined "
            f"({report['quarantined_by_reason']}); see data/02_intermediate/quarantine/"
            "customers.parquet."
        )
    return clean, quarantine, report, attributes


def clean_customer_table(
    raw: pd.DataFrame | RawTableFile | None,
    customers: pd.DataFrame,
    params: dict[str, Any],
    *,
    table: str,
) -> tuple[pd.DataFrame | StagedParquet, pd.DataFrame | StagedParquet, dict[str, Any]]:
    """Clean a table that refers to customers; rows of unknown customers are quarantined.

    A raw Parquet file whose dates and numbers are typed is cleaned in DuckDB (on Spark in the
    ``spark`` environment), and the clean table and quarantine come back as files staged for
    the catalog (``params["duckdb"]``).
    Anything else (a CSV file, text dates or numbers, ``duckdb.enabled: false``, a DataFrame)
    is cleaned in pandas. Both paths apply the same rules and give the same rows and report.
    """
    spec = TABLE_SPECS[table]
    if isinstance(raw, RawTableFile):
        in_duckdb = _clean_in_duckdb(raw, spec, params, customers["customer_id"])
        if in_duckdb is not None:
            return in_duckdb
        raw = raw.read()
    return clean_table(raw, spec, params, customers["customer_id"])


def _clean_in_duckdb(
    source: RawTableFile, spec: TableSpec, params: dict[str, Any], known_customer_ids: pd.Series
) -> tuple[StagedParquet, StagedParquet, dict[str, Any]] | None:
    """Clean ``source`` in DuckDB (on Spark when the run has a Spark session: the ``spark``
    environment), or return ``None`` when the pandas path must do it."""
    settings = params.get("duckdb") or {}
    if not settings.get("enabled", True) or source.file_format != "parquet":
        return None
    with closing(engine.connect(settings)) as con:
        try:
            columns = engine.raw_columns(source.path)
            unsupported = engine.unsupported_columns(con, source.path, spec)
        except Exception as error:  # the same message as the pandas path's reader
            raise DatasetError(
                f"Table '{spec.name}': could not read {source.path}: "
                f"{type(error).__name__}: {error}"
            ) from error
        if unsupported:
            logger.info(
                "Table %s is cleaned in pandas: column types %s are parsed there",
                spec.name,
                unsupported,
            )
            return None
        _require_columns(spec, columns)
        spark = run_spark_session()
        if spark is not None:
            logger.info("Table %s is cleaned on Spark (%s)", spec.name, source.path)
            result = engine_spark.clean_parquet_in_spark(
                source.path,
                spec,
                resolve_rules(params),
                known_customer_ids,
                spark,
                engine.raw_types(con, source.path),
                _quarantine_frame,
                settings.get("temp_directory"),
            )
        else:
            logger.info("Table %s is cleaned in DuckDB (%s)", spec.name, source.path)
            result = engine.clean_parquet_in_duckdb(
                source.path,
                spec,
                resolve_rules(params),
                known_customer_ids,
                con,
                _quarantine_frame,
                settings.get("temp_directory"),
            )
    head = next(pq.ParquetFile(result[1].path).iter_batches(batch_size=SAMPLE_ROWS), None)
    result[2]["quarantine_sample"] = quarantine_sample(
        head.to_pandas() if head is not None else pd.DataFrame()
    )
    _log_quarantine(spec.name, result[2])
    return result


def _check_quarantine_share(table: str, report: dict[str, Any], limit: float) -> None:
    """Stop when more than ``limit`` of a table's rows were quarantined: the run would answer a
    different question (e.g. every subscription gone turns a contractual business into a
    non-contractual one) with a believable report."""
    rows, quarantined = report["rows_in"], report["rows_quarantined"]
    if not rows or quarantined / rows <= limit:
        return
    reasons = sorted(report["quarantined_by_reason"].items(), key=lambda kv: -kv[1])[:3]
    raise DataContractError(
        f"Table '{table}': {quarantined:,} of {rows:,} rows ({quarantined / rows:.1%}) were "
        f"quarantined, more than data_cleaning.max_quarantine_share = {limit:.0%}. Top reasons: "
        + "; ".join(f"{reason} ({count:,})" for reason, count in reasons)
        + f". First rows: {report.get('quarantine_sample', [])}. Fix the export, or raise "
        "data_cleaning.max_quarantine_share (conf/local/parameters.yml) to go on without these "
        f"rows; all of them are in data/02_intermediate/quarantine/{table}.parquet."
    )


def reconcile_data_quality(
    max_quarantine_share: float | None = None, contract: str = "auto", **reports: dict[str, Any]
) -> dict[str, Any]:
    """Per-table reconciliation: rows in = clean + quarantined, quarantined by reason, and the
    business model the run analyses (``core.contract.business_model``) with why.

    Raises:
        DataContractError: the required tables are not present, or a table lost more than
            ``max_quarantine_share`` of its rows to quarantine.
        AssertionError: a table does not reconcile (a bug: a row was lost or duplicated).
    """
    check_required_tables({t: r["status"] == "present" for t, r in reports.items()})
    for table, report in reports.items():
        if max_quarantine_share is not None:
            _check_quarantine_share(table, report, float(max_quarantine_share))
    for table, report in reports.items():
        if report["rows_in"] != report["rows_clean"] + report["rows_quarantined"]:
            raise AssertionError(f"Table {table} does not reconcile: {report}")
    totals = {
        key: sum(report[key] for report in reports.values())
        for key in ("rows_in", "rows_clean", "rows_quarantined")
    }
    subscriptions, transactions = reports["subscriptions"], reports["transactions"]
    model, why = business_model(
        contract,
        subscriptions["rows_clean"],
        transactions["rows_clean"],
        raw_subscription_rows=subscriptions["rows_in"],
    )
    logger.info("Business model: %s (%s)", model, why)
    return {"tables": reports, "totals": totals, "contract": model, "contract_reason": why}
