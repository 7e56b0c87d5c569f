"""The ``tracking`` parameter block: MLflow experiment tracking and the model registry
(``conf/base/parameters_tracking.yml``, used by ``hooks.tracking``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .parameter_types import Block, Name, Shown

TrackingUri = Annotated[
    Annotated[str, Field(min_length=1)] | None,
    Shown(
        "text or null",
        "an MLflow tracking URI (http://host:5000, sqlite:///path.db), or null "
        "($MLFLOW_TRACKING_URI, else the project's store)",
    ),
]


class Tracking(Block):
    enabled: bool = Field(
        description="Log every run to MLflow and register the churn models (false: nothing "
        "is logged or registered)"
    )
    uri: TrackingUri = Field(
        description="Tracking server; null = $MLFLOW_TRACKING_URI when set, else the project's "
        "store sqlite:///data/09_tracking/mlflow.db"
    )
    experiment: Name = Field(description="MLflow experiment the runs are logged to")
    registered_model: Name = Field(
        description="Registered model whose versions are the trained churn models (aliases "
        "champion = promoted, challenger = rejected)"
    )
    log_artifacts: bool = Field(
        description="Log the report, key charts and the JSON summaries as artifacts"
    )
    score_from: Literal["store", "registry"] = Field(
        description="Model of the score job: store = data/06_models/promoted; registry = "
        "models:/<registered_model>@champion (same checks)"
    )
