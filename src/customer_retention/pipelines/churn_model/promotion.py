"""Step 6: the model's metadata and champion/challenger promotion."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import xgboost as xgb

import customer_retention
from customer_retention.core.calibration import apply_calibrator
from customer_retention.core.model_frame import (
    SPLIT_COLUMN,
    dmatrix,
)
from customer_retention.core.serialization import jsonable
from customer_retention.models.evaluation import (
    classification_metrics,
)
from customer_retention.provenance import git_commit

from .common import KEYS, LABEL, PROMOTION_DIRECTIONS, _dates, _rows

logger = logging.getLogger(__name__)


def _fingerprint(churn_model_input: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    train = _rows(churn_model_input, "train")
    hashed = pd.util.hash_pandas_object(train[[*KEYS, LABEL, *spec["features"]]], index=False)
    return {
        "rows": {
            p: int((churn_model_input[SPLIT_COLUMN] == p).sum()) for p in ("train", "valid", "test")
        },
        "label_rate": {
            p: float(_rows(churn_model_input, p)[LABEL].mean()) for p in ("train", "valid", "test")
        },
        "training_frame_sha256": hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest(),
    }


def describe_churn_model(
    churn_model_booster: str,
    churn_model_calibrator: dict[str, Any],
    feature_spec: dict[str, Any],
    split_info: dict[str, Any],
    training_summary: dict[str, Any],
    metrics: dict[str, Any],
    churn_model_input: pd.DataFrame,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Metadata stored beside the booster: what it needs, what it saw, how good it is."""
    digest = hashlib.sha256(churn_model_booster.encode("utf-8")).hexdigest()
    created = datetime.now(UTC)
    return {
        "model_id": f"{created:%Y%m%dT%H%M%S}Z-{digest[:10]}",
        "created_at": created.isoformat(timespec="seconds"),
        "booster_sha256": digest,
        "label": LABEL,
        "feature_spec": feature_spec,
        "training_window": {
            "split": split_info["split"],
            "reason": split_info["reason"],
            **{part: info["snapshots"] for part, info in split_info["parts"].items()},
        },
        "parameters": params,
        "training": training_summary,
        "calibration": {k: v for k, v in churn_model_calibrator.items() if k not in ("x", "y")},
        "metrics": {
            name: {k: v for k, v in result.items() if k != "description"}
            for name, result in metrics["scorers"].items()
            if name in ("xgboost_calibrated", "xgboost_raw", "logistic_baseline")
        },
        "data_fingerprint": _fingerprint(churn_model_input, feature_spec),
        "code_version": {
            "package": customer_retention.__version__,
            "git_commit": git_commit(),
        },
    }


def _champion_score(
    champion: dict[str, Any], test: pd.DataFrame, metric: str, params: dict[str, Any]
) -> float:
    spec = champion["metadata"]["feature_spec"]
    raw = champion["booster"].predict(dmatrix(test, spec))
    probability = apply_calibrator(champion["calibrator"], raw)
    evaluation = params["evaluation"]
    return float(
        classification_metrics(
            test[LABEL],
            probability,
            top_fraction=float(evaluation["top_fraction"]),
            n_bins=int(evaluation["ece_bins"]),
            strategy=evaluation["ece_strategy"],
        )[metric]
    )


def _compare_with_champion(
    champion: dict[str, Any] | None,
    test: pd.DataFrame,
    decision: dict[str, Any],
    challenger_metadata: dict[str, Any],
    challenger_calibrator: dict[str, Any],
    params: dict[str, Any],
) -> tuple[bool, str]:
    """(promote the challenger?, why), filling in the champion's side of ``decision``."""
    if champion is None:
        return True, "no promoted model yet"
    metric, tolerance = decision["metric"], decision["tolerance"]
    champion_meta = champion["metadata"]
    decision["champion_model_id"] = champion_meta["model_id"]
    window = champion_meta["training_window"]
    seen = set(window.get("train", [])) | set(window.get("valid", []))
    decision["champion_trained_on_test_window"] = bool(seen & set(decision["test_window"]))
    try:
        champion_score = _champion_score(champion, test, metric, params)
    except (ValueError, xgb.core.XGBoostError) as error:
        return True, f"the champion cannot score the current data ({error})"
    same_model = champion_meta.get("booster_sha256") == challenger_metadata.get(
        "booster_sha256"
    ) and jsonable(champion["calibrator"]) == jsonable(challenger_calibrator)
    decision["champion_score"] = champion_score
    margin = decision["challenger_score"] - champion_score
    if not decision["higher_is_better"]:
        margin = -margin
    promote = margin >= -tolerance and not same_model
    if same_model:
        return promote, "identical to the promoted model (same booster and calibration): kept"
    return promote, (
        f"challenger {metric} {decision['challenger_score']:.4f} vs champion "
        f"{champion_score:.4f} on the same test window: "
        f"{'within' if promote else 'worse than'} the tolerance {tolerance}"
    )


def promote_churn_model(
    churn_model_booster: str,
    churn_model_calibrator: dict[str, Any],
    churn_model_metadata_draft: dict[str, Any],
    metrics: dict[str, Any],
    champion: dict[str, Any] | None,
    churn_model_input: pd.DataFrame,
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Champion/challenger: promote the new model unless it is worse than the promoted one.

    Both are scored on the challenger's test rows with their own calibration; the challenger
    wins unless its ``promotion.metric`` is worse than the champion's by more than
    ``promotion.tolerance``. A champion that cannot score the current features (a source table
    disappeared) loses. Returns the model to promote (the champion itself when it stays, which
    the promoted store does not rewrite), the metadata and the metrics with the decision.
    """
    promotion = params["promotion"]
    metric, tolerance = promotion["metric"], float(promotion["tolerance"])
    if metric not in PROMOTION_DIRECTIONS:
        raise ValueError(
            f"promotion.metric must be one of {', '.join(PROMOTION_DIRECTIONS)}, got {metric!r}"
        )
    higher_is_better = PROMOTION_DIRECTIONS[metric]
    challenger_id = churn_model_metadata_draft["model_id"]
    challenger_metrics = metrics["scorers"]["xgboost_calibrated"]
    challenger_score = challenger_metrics.get(metric)
    test = _rows(churn_model_input, "test")
    decision: dict[str, Any] = {
        "metric": metric,
        "higher_is_better": higher_is_better,
        "tolerance": tolerance,
        "test_window": _dates(test),
        "challenger_model_id": challenger_id,
        "challenger_score": challenger_score,
        "champion_model_id": None,
        "champion_score": None,
    }
    if challenger_score is None:
        # e.g. constant predictions: nothing to compare; a champion stays, a first model is
        # promoted with the reason in its metadata and the metrics.
        promote = champion is None
        reason = f"the new model's {metric} is not available ({challenger_metrics.get('status')})"
        logger.warning("Churn model: %s", reason)
    else:
        promote, reason = _compare_with_champion(
            champion, test, decision, churn_model_metadata_draft, churn_model_calibrator, params
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
            "booster": churn_model_booster,
            "calibrator": churn_model_calibrator,
            "metadata": metadata,
        }
    else:
        promoted = champion
    final_metrics = {"model_id": challenger_id, **metrics, "promotion": decision}
    return promoted, jsonable(metadata), jsonable(final_metrics)
