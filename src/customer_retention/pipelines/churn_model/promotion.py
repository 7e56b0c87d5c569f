"""Step 7: the deployed model's metadata and champion/challenger promotion."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import xgboost as xgb

import customer_retention
from customer_retention.core.serialization import jsonable
from customer_retention.models.churn_classifier import predict_raw
from customer_retention.provenance import git_commit

from .common import LABEL, PROMOTION_DIRECTIONS, _rows

logger = logging.getLogger(__name__)


def describe_churn_model(
    churn_model_file: str,
    churn_model_calibrator: dict[str, Any],
    churn_refit: dict[str, Any],
    churn_backtest: dict[str, Any],
    metrics: dict[str, Any],
    latest_theme_model: dict[str, Any] | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Metadata stored beside the deployed (refitted) model: what it needs, what it saw, the
    backtest it is judged by and the evaluation split's metrics; with ``theme_model``, the
    comment themes behind its ``latest_theme`` feature (None when it has none)."""
    digest = hashlib.sha256(churn_model_file.encode("utf-8")).hexdigest()
    created = datetime.now(UTC)
    split = churn_refit["split"]
    chosen = churn_backtest["selection"]["chosen"]
    return {
        "model_id": f"{created:%Y%m%dT%H%M%S}Z-{digest[:10]}",
        "created_at": created.isoformat(timespec="seconds"),
        "model_kind": churn_refit["model_kind"],
        "booster_sha256": digest,
        "label": LABEL,
        "feature_spec": churn_refit["feature_spec"],
        "theme_model": latest_theme_model
        if "latest_theme" in churn_refit["feature_spec"]["features"]
        else None,
        "training_window": {
            "split": split["split"],
            "reason": split["reason"],
            **{part: info["snapshots"] for part, info in split["parts"].items()},
            **churn_refit["window"],
        },
        "evaluation_window": metrics["windows"],
        "parameters": params,
        "training": churn_refit["training"],
        "calibration": {k: v for k, v in churn_model_calibrator.items() if k not in ("x", "y")},
        "backtest": {
            "kind": churn_backtest["kind"],
            "selection": churn_backtest["selection"],
            "summary": churn_backtest["summary"][chosen],
            "by_cutoff": {c["cutoff"]: c[chosen] for c in churn_backtest["cutoffs"]},
        },
        "metrics": {
            name: {k: v for k, v in result.items() if k != "description"}
            for name, result in metrics["scorers"].items()
            if name in ("xgboost_calibrated", "xgboost_raw", "logistic_baseline")
        },
        "data_fingerprint": churn_refit["data_fingerprint"],
        "code_version": {
            "package": customer_retention.__version__,
            "git_commit": git_commit(),
        },
    }


def _backtest_mean(metadata: dict[str, Any], metric: str, cutoffs: list[str]) -> float | None:
    by_cutoff = (metadata.get("backtest") or {}).get("by_cutoff") or {}
    values = [by_cutoff[c].get(metric) for c in cutoffs]
    values = [v for v in values if v is not None]
    return float(sum(values) / len(values)) if values else None


def _compare_with_champion(
    champion: dict[str, Any] | None,
    test: pd.DataFrame,
    decision: dict[str, Any],
    challenger_metadata: dict[str, Any],
    challenger_calibrator: dict[str, Any],
) -> tuple[bool, str]:
    """(promote the challenger?, why), filling in the champion's side of ``decision``.

    The two are compared on the backtest cutoffs they share: the mean of each one's metric
    there (the refitted challenger has seen every labelled snapshot, so no held-out rows are
    left to score both on)."""
    if champion is None:
        return True, "no promoted model yet"
    metric, tolerance = decision["metric"], decision["tolerance"]
    champion_meta = champion["metadata"]
    decision["champion_model_id"] = champion_meta["model_id"]
    try:
        predict_raw(champion["model"], test.head(100), champion_meta["feature_spec"])
    except (ValueError, KeyError, xgb.core.XGBoostError) as error:
        return True, f"the champion cannot score the current data ({error})"
    challenger_cutoffs = list(challenger_metadata["backtest"]["by_cutoff"])
    shared = [
        c
        for c in challenger_cutoffs
        if c in ((champion_meta.get("backtest") or {}).get("by_cutoff") or {})
    ]
    decision["shared_cutoffs"] = shared
    champion_score = _backtest_mean(champion_meta, metric, shared)
    challenger_score = _backtest_mean(challenger_metadata, metric, shared)
    decision["champion_score"] = champion_score
    if challenger_score is not None:
        decision["challenger_score"] = challenger_score
    same_model = champion_meta.get("booster_sha256") == challenger_metadata.get(
        "booster_sha256"
    ) and jsonable(champion["calibrator"]) == jsonable(challenger_calibrator)
    if same_model:
        return False, "identical to the promoted model (same model file and calibration): kept"
    if champion_score is None or challenger_score is None:
        return True, (
            f"the champion's backtest shares no cutoff with the challenger's with a {metric}: "
            "the model trained on the newer data is promoted"
        )
    margin = challenger_score - champion_score
    if not decision["higher_is_better"]:
        margin = -margin
    promote = margin >= -tolerance
    return promote, (
        f"challenger mean {metric} {challenger_score:.4f} vs champion {champion_score:.4f} "
        f"over the {len(shared)} backtest cutoff(s) both were judged on: "
        f"{'within' if promote else 'worse than'} the tolerance {tolerance}"
    )


def promote_churn_model(
    churn_model_file: str,
    churn_model_calibrator: dict[str, Any],
    churn_model_metadata_draft: dict[str, Any],
    metrics: dict[str, Any],
    champion: dict[str, Any] | None,
    churn_model_input: pd.DataFrame,
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Champion/challenger: promote the refitted model unless it is worse than the promoted one.

    Both are judged by their backtests on the cutoffs they share (``promotion.metric``, mean
    over those cutoffs); the challenger wins unless it is worse than the champion by more than
    ``promotion.tolerance``, or it is the very same model. A champion that cannot score the
    current features (a source table disappeared) loses. Returns the model to promote (the
    champion itself when it stays, which the promoted store does not rewrite), the metadata
    and the metrics with the decision.
    """
    promotion = params["promotion"]
    metric, tolerance = promotion["metric"], float(promotion["tolerance"])
    if metric not in PROMOTION_DIRECTIONS:
        raise ValueError(
            f"promotion.metric must be one of {', '.join(PROMOTION_DIRECTIONS)}, got {metric!r}"
        )
    challenger_id = churn_model_metadata_draft["model_id"]
    backtest_mean = (churn_model_metadata_draft["backtest"]["summary"].get(metric) or {}).get(
        "mean"
    )
    decision: dict[str, Any] = {
        "metric": metric,
        "higher_is_better": PROMOTION_DIRECTIONS[metric],
        "tolerance": tolerance,
        "challenger_model_id": challenger_id,
        "challenger_model_kind": churn_model_metadata_draft["model_kind"],
        "challenger_score": backtest_mean,
        "champion_model_id": None,
        "champion_score": None,
    }
    if backtest_mean is None:
        # e.g. constant predictions at every cutoff: nothing to compare; a champion stays, a
        # first model is promoted with the reason in its metadata and the metrics.
        promote = champion is None
        reason = f"the new model's backtest {metric} is not available"
        logger.warning("Churn model: %s", reason)
    else:
        promote, reason = _compare_with_champion(
            champion,
            _rows(churn_model_input, "test"),
            decision,
            churn_model_metadata_draft,
            churn_model_calibrator,
        )
    decision["decision"] = "promoted" if promote else "kept_champion"
    decision["reason"] = reason
    decision["promoted_model_id"] = challenger_id if promote else decision["champion_model_id"]
    (logger.info if promote else logger.warning)(
        "Champion/challenger: %s (%s)", decision["decision"], reason
    )
    metadata = jsonable(churn_model_metadata_draft | {"promotion": decision})
    if promote:
        promoted = {
            "model": churn_model_file,
            "calibrator": churn_model_calibrator,
            "metadata": metadata,
        }
    else:
        promoted = champion
    final_metrics = {"model_id": challenger_id, **metrics, "promotion": decision}
    return promoted, jsonable(metadata), jsonable(final_metrics)
