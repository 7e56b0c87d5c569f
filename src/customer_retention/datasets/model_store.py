"""The promoted churn model at a fixed place, replaced atomically; and optional inputs.

Layout of :class:`PromotedModelDataset` (``path`` = e.g. ``data/06_models/promoted``)::

    promoted/
      current.json                  <- {"model_id": ...}: the promoted model (atomic pointer)
      <model_id>/model.json         <- the model: XGBoost's own JSON format, or the logistic
                                       regression's coefficients (metadata model_kind)
      <model_id>/calibrator.json    <- calibration map (plain JSON)
      <model_id>/metadata.json      <- features, training window, metrics, promotion decision

A save writes the three files into a temporary directory, renames it to ``<model_id>`` and only
then replaces ``current.json`` with ``os.replace`` (atomic on POSIX and Windows). A reader sees
either the previous model or the new one, never a mix; a crash mid-save leaves the promoted
model untouched. Saving the model that is already promoted is a no-op, so a pipeline that keeps
its champion rewrites nothing. The ``keep`` most recent model directories are kept (rollback:
point ``current.json`` at an older one); older ones are deleted.

Nothing is pickled: a booster is loaded with ``xgboost.Booster.load_model``, a logistic
regression from its JSON (``models.churn_classifier``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import xgboost as xgb
from kedro.io import AbstractDataset, DatasetError

from customer_retention.models.churn_classifier import model_from_json, model_to_json

from .atomic import write_text_atomic

logger = logging.getLogger(__name__)

POINTER = "current.json"
FILES = {"model": "model.json", "calibrator": "calibrator.json", "metadata": "metadata.json"}
CHECKSUMS = "checksums.json"  # sha256 of model.json and calibrator.json, written at promotion
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a folder name, never a path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_model_files(
    folder: Path, data: dict[str, Any], model_json: str | None = None
) -> dict[str, str]:
    """Write a model folder's files (model, calibrator, metadata and the checksums of the first
    two) into the existing ``folder``; returns the checksums. The one serialisation of a
    promoted model: the store and the registry (``datasets.registry``) write the same bytes."""
    if model_json is None:
        model_json = model_to_json(data["model"])
    (folder / FILES["model"]).write_text(model_json, encoding="utf-8")
    for key in ("calibrator", "metadata"):
        (folder / FILES[key]).write_text(
            json.dumps(data[key], indent=2, default=str), encoding="utf-8"
        )
    digests = {FILES[k]: _sha256(folder / FILES[k]) for k in ("model", "calibrator")}
    (folder / CHECKSUMS).write_text(json.dumps(digests, indent=2), encoding="utf-8")
    return digests


class PromotedModelDataset(AbstractDataset[dict[str, Any], dict[str, Any] | None]):
    """Load / save ``{"model", "calibrator", "metadata"}`` of the promoted churn model.

    ``metadata["model_id"]`` names the model, ``metadata["model_kind"]`` its kind (``xgboost``,
    the default, or ``logistic``). ``model`` may be saved as the model object or as its JSON
    text; it loads as an ``xgboost.Booster`` or a ``LogisticChurnClassifier``.

    With ``missing_ok: true`` loading returns ``None`` when nothing is promoted yet (the
    champion input of training); otherwise it raises an error saying how to create one.

    Example catalog entry::

        promoted_churn_model:
          type: customer_retention.datasets.model_store.PromotedModelDataset
          path: data/06_models/promoted
    """

    def __init__(
        self,
        *,
        path: str,
        missing_ok: bool = False,
        keep: int = 5,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if keep < 1:
            raise DatasetError(f"keep must be at least 1, got {keep}")
        self._path = Path(path)
        self._missing_ok = missing_ok
        self._keep = keep
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "missing_ok": self._missing_ok, "keep": self._keep}

    # ------------------------------------------------------------------ reader API
    # The one place that knows the layout: the run manifest and `make versions` read the
    # store through these, not through the files.
    def current_model_id(self) -> str | None:
        """The id ``current.json`` points at; None when nothing is promoted.

        Raises ``ValueError`` / ``KeyError`` / ``OSError`` when the pointer is unreadable.
        """
        pointer = self._path / POINTER
        if not pointer.is_file():
            return None
        try:
            model_id = json.loads(pointer.read_text(encoding="utf-8"))["model_id"]
        except (ValueError, KeyError, TypeError) as error:
            raise DatasetError(
                f"{pointer} is not a valid pointer ({type(error).__name__}: {error}). Write "
                f'{{"model_id": "<one of the folders in {self._path}>"}} into it, or retrain '
                "(kedro run --pipelines retrain)."
            ) from error
        if not isinstance(model_id, str) or not MODEL_ID.match(model_id) or ".." in model_id:
            raise DatasetError(
                f"{pointer} names {model_id!r}, which is not a model folder name: a promoted "
                f"model must be a folder inside {self._path}."
            )
        return model_id

    def read_metadata(self, model_id: str | None = None) -> dict[str, Any] | None:
        """The metadata of model ``model_id`` (default: the promoted one) without loading the
        booster; None when there is no such model."""
        model_id = model_id or self.current_model_id()
        if model_id is None:
            return None
        path = self._path / model_id / FILES["metadata"]
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    _current_id = current_model_id

    def _exists(self) -> bool:
        return self._current_id() is not None

    def load(self) -> dict[str, Any] | None:
        model_id = self._current_id()
        if model_id is None:
            if self._missing_ok:
                return None
            raise DatasetError(
                f"No promoted churn model at {self._path} ({POINTER} is missing). Run the "
                "retraining job first: kedro run --pipeline retrain (or only the model: "
                "kedro run --pipeline churn_model)"
            )
        folder = self._path / model_id
        if not folder.is_dir():
            raise DatasetError(
                f"{self._path / POINTER} names model {model_id}, but {folder} does not exist. "
                "Point it at one of the model folders there, or retrain."
            )
        self._verify(folder)
        try:
            metadata = json.loads((folder / FILES["metadata"]).read_text(encoding="utf-8"))
            model = model_from_json(
                (folder / FILES["model"]).read_bytes(), metadata.get("model_kind", "xgboost")
            )
            calibrator = json.loads((folder / FILES["calibrator"]).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, xgb.core.XGBoostError) as error:
            raise DatasetError(
                f"The promoted churn model {model_id} in {folder} is unreadable: {error}. "
                f"Point {self._path / POINTER} at an intact model folder or retrain "
                "(kedro run --pipeline retrain)."
            ) from error
        return {"model": model, "calibrator": calibrator, "metadata": metadata}

    def _verify(self, folder: Path) -> None:
        """The model and calibrator files are the ones that were promoted: their sha256 against
        ``checksums.json`` (and the booster's against the metadata's ``booster_sha256``). A file
        edited afterwards, even into valid JSON, would score every customer wrongly."""
        expected: dict[str, str] = {}
        checksums = folder / CHECKSUMS
        if checksums.is_file():
            expected = json.loads(checksums.read_text(encoding="utf-8"))
        metadata_path = folder / FILES["metadata"]
        if metadata_path.is_file():
            try:
                recorded = json.loads(metadata_path.read_text(encoding="utf-8")).get(
                    "booster_sha256"
                )
            except ValueError:
                recorded = None
            if recorded:
                expected.setdefault(FILES["model"], recorded)
        for name, digest in expected.items():
            path = folder / name
            if path.is_file() and _sha256(path) != digest:
                raise DatasetError(
                    f"{path} does not match the checksum recorded when it was promoted: it was "
                    "changed afterwards. Restore it, point "
                    f"{self._path / POINTER} at another model folder, or retrain "
                    "(kedro run --pipelines retrain)."
                )

    def save(self, data: dict[str, Any]) -> None:
        model_id = str(data["metadata"]["model_id"])
        if self._current_id() == model_id:
            logger.info("Promoted churn model unchanged (%s)", model_id)
            return
        self._path.mkdir(parents=True, exist_ok=True)
        model_json = model_to_json(data["model"])
        target = self._path / model_id
        if not target.is_dir():
            staging = self._path / f".staging-{model_id}-{uuid.uuid4().hex[:8]}"
            staging.mkdir()
            try:
                write_model_files(staging, data, model_json)
                os.replace(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        write_text_atomic(self._path / POINTER, json.dumps({"model_id": model_id}) + "\n")
        logger.info("Promoted churn model %s at %s", model_id, target)
        self._prune(keep_id=model_id)

    def _prune(self, keep_id: str) -> None:
        """Keep the promoted model and the ``keep - 1`` most recent others (by modification
        time, then by id, which starts with the training time: a coarse file clock can give
        two models saved in a row the same time)."""
        others = sorted(
            (
                p
                for p in self._path.iterdir()
                if p.is_dir() and not p.name.startswith(".") and p.name != keep_id
            ),
            key=lambda p: (p.stat().st_mtime_ns, p.name),
            reverse=True,
        )
        for folder in others[self._keep - 1 :]:
            shutil.rmtree(folder, ignore_errors=True)


class OptionalDataset(AbstractDataset[Any, Any]):
    """Wraps any dataset; loads ``None`` (with a log line) when the wrapped data do not exist.

    For inputs a pipeline can do without: the demo data's ground truth (absent for real data),
    scores from a stage that may not have run. Saves go to the wrapped dataset.

    Example catalog entry::

        churn_model_ground_truth:
          type: customer_retention.datasets.model_store.OptionalDataset
          dataset: {type: json.JSONDataset, filepath: data/01_raw/ground_truth.json}
    """

    def __init__(self, *, dataset: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self._config = dict(dataset)
        self._dataset = AbstractDataset.from_config("optional", dict(dataset))
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._config}

    def _exists(self) -> bool:
        return self._dataset.exists()

    def load(self) -> Any:
        if not self._dataset.exists():
            logger.info("Optional input %s is absent: skipped", self._config)
            return None
        return self._dataset.load()

    def save(self, data: Any) -> None:
        self._dataset.save(data)

    @property
    def wrapped(self) -> AbstractDataset:
        """The dataset this one wraps."""
        return self._dataset

    def _release(self) -> None:
        self._dataset.release()
