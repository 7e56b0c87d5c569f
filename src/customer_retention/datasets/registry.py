"""The MLflow model registry beside the promoted-model store.

Every trained churn model becomes a version of one registered model (``tracking.
registered_model``). A version's artifacts are the promoted store's model folder, byte for byte
(``model.json`` in XGBoost's own JSON format or the logistic regression's coefficients,
``calibrator.json``, ``metadata.json``, ``checksums.json``), plus an ``MLmodel`` file with the
signature (the model's features in, ``churn_probability`` out) and two flavours: ``xgboost``
(XGBoost boosters only: ``mlflow.xgboost.load_model`` reads ``model.json``) and
``customer_retention_churn`` (model kind and the files). No ``python_function`` flavour and no
pickle. Each version is tagged with the store's ``model_id`` and the sha256 of its files.

The store (``data/06_models/promoted``) stays the serving copy and the source of truth; the
alias ``champion`` follows it. The writes of a promotion, in order:

1. the challenger is logged and registered (a version without alias: harmless if the run stops
   here);
2. the store switches ``current.json`` atomically (``PromotedModelDataset.save``);
3. ``champion`` is set on the version of the store's model (:meth:`ModelRegistry.follow_store`),
   and ``challenger`` on the new version when it was rejected.

A failure between 2 and 3 (a crash, the tracking server down) leaves the alias on the previous
champion; :meth:`ModelRegistry.follow_store` runs again at the start of the next run and moves
it (registering the store's model first if the registry never got it), with a warning saying
what it repaired. The two are never left apart for longer than until the next run.

:class:`RegistryChampionDataset` is the ``score`` job's model when ``tracking.score_from:
registry``: it downloads ``models:/<registered_model>@champion`` into a local mirror with the
store's layout and loads it through the store's own checks (checksums, readable model), after
checking the files against the checksums recorded on the version at registration.

MLflow is imported when first needed (``mlflow_module``), with its telemetry off.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path
from typing import Any

from kedro.io import DatasetError

import customer_retention
from customer_retention.core.errors import ActionableError

from .atomic import write_text_atomic
from .model_store import CHECKSUMS, FILES, POINTER, PromotedModelDataset, write_model_files

logger = logging.getLogger(__name__)

LOCAL_STORE = Path("data") / "09_tracking"
"""The project's own tracking store: ``mlflow.db`` (SQLite) and ``artifacts/``."""
CHAMPION, CHALLENGER = "champion", "challenger"
MODEL_ARTIFACTS = "churn_model"  # a version's files: <run artifacts>/churn_model/<model_id>
FLAVOR = "customer_retention_churn"
QUIET_LOGGERS = ("alembic", "mlflow.store.db.utils", "mlflow.tracking._model_registry")


class RegistryError(ActionableError, DatasetError):
    """The registry cannot give the champion (``score_from: registry``)."""


def mlflow_module() -> Any:
    """``mlflow``, imported on first use with its usage telemetry off (it would call out to the
    internet) and the database-migration chatter at warning level."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


def local_store(project_path: Path) -> Path:
    return project_path / LOCAL_STORE


def resolve_tracking_uri(setting: str | None, project_path: Path) -> tuple[str, Path | None]:
    """(tracking URI, the project's local store folder or None for another store).

    ``tracking.uri`` when set, else ``$MLFLOW_TRACKING_URI``, else the project's SQLite store
    ``data/09_tracking/mlflow.db`` (as an absolute path: runs do not depend on the working
    directory)."""
    uri = setting or os.environ.get("MLFLOW_TRACKING_URI") or None
    if uri:
        return uri, None
    folder = local_store(project_path).resolve()
    return f"sqlite:///{(folder / 'mlflow.db').as_posix()}", folder


def relocate_local_store(folder: Path) -> int:
    """Point the local store's artifact paths at ``folder/artifacts`` when the project was
    moved or copied (MLflow records absolute paths: a copy would otherwise keep writing into,
    and reading from, the original's folder). Returns the number of rows changed."""
    database = folder / "mlflow.db"
    if not database.is_file():
        return 0
    marker = f"/{LOCAL_STORE.as_posix()}/artifacts"
    new_root = (folder / "artifacts").as_posix()
    columns = {
        "experiments": ("artifact_location",),
        "runs": ("artifact_uri",),
        "model_versions": ("source", "storage_location"),
        "logged_models": ("artifact_location",),
    }
    changed = 0
    with sqlite3.connect(database) as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        if "experiments" not in tables:
            return 0
        roots = set()
        for (location,) in connection.execute("SELECT artifact_location FROM experiments"):
            if location and marker in location:
                root = location[: location.index(marker) + len(marker)]
                root = root.removeprefix("file://")
                if root != new_root:
                    roots.add(root)
        for old_root in roots:
            for table, names in columns.items():
                if table not in tables:
                    continue
                present = {r[1] for r in connection.execute(f"PRAGMA table_info({table})")}
                for column in (c for c in names if c in present):
                    for prefix in ("", "file://"):
                        cursor = connection.execute(
                            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE substr({column}, 1, ?) = ?",
                            (
                                prefix + new_root,
                                len(prefix + old_root) + 1,
                                len(prefix + old_root),
                                prefix + old_root,
                            ),
                        )
                        changed += cursor.rowcount
    if changed:
        logger.info("Tracking store moved with the project: %d artifact paths updated", changed)
    return changed


def model_signature(feature_spec: dict[str, Any] | None) -> Any:
    """The model's signature from its feature spec: each feature (categoricals as strings,
    missing values allowed) in, ``churn_probability`` out. None without a spec."""
    if not feature_spec or not feature_spec.get("features"):
        return None
    mlflow_module()
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    dtypes = feature_spec.get("dtypes") or {}
    inputs = [
        ColSpec("string" if dtypes.get(c) == "category" else "double", c, required=False)
        for c in feature_spec["features"]
    ]
    return ModelSignature(Schema(inputs), Schema([ColSpec("double", "churn_probability")]))


def write_mlmodel(folder: Path, metadata: dict[str, Any], run_id: str | None) -> None:
    """The ``MLmodel`` file of a model folder (module docstring: flavours, signature)."""
    mlflow_module()
    import xgboost
    from mlflow.models import Model

    kind = metadata.get("model_kind", "xgboost")
    model = Model(
        run_id=run_id,
        signature=model_signature(metadata.get("feature_spec")),
        metadata={"model_id": metadata.get("model_id"), "model_kind": kind},
    )
    if kind == "xgboost":
        model.add_flavor(
            "xgboost",
            xgb_version=xgboost.__version__,
            data=FILES["model"],
            model_class="xgboost.core.Booster",
            model_format="json",
            code=None,
        )
    model.add_flavor(
        FLAVOR,
        model_kind=kind,
        package_version=customer_retention.__version__,
        checksums=CHECKSUMS,
        **FILES,
    )
    model.save(str(folder / "MLmodel"))


class ModelRegistry:
    """The registered model of the churn models on one tracking server (module docstring)."""

    def __init__(self, client: Any, name: str, uri: str) -> None:
        self.client = client
        self.name = name
        self.uri = uri

    @classmethod
    def open(cls, uri: str, name: str) -> ModelRegistry:
        mlflow = mlflow_module()
        return cls(mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri), name, uri)

    # ------------------------------------------------------------------ reading
    def version_of(self, model_id: str) -> Any | None:
        """The newest version registered for the store's ``model_id``; None if there is none."""
        found = self.client.search_model_versions(
            f"name='{self.name}' and tags.model_id='{model_id}'"
        )
        return max(found, key=lambda v: int(v.version)) if found else None

    def alias(self, alias: str) -> Any | None:
        """The version holding ``alias``; None when no version holds it (or no model yet)."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    # ------------------------------------------------------------------ writing
    def register_folder(self, run_id: str, folder: Path, metadata: dict[str, Any]) -> Any:
        """Log a model folder (store layout) under the run and register it as a new version,
        unless the model is registered already; returns its version."""
        from mlflow.exceptions import MlflowException

        model_id = str(metadata["model_id"])
        existing = self.version_of(model_id)
        if existing is not None:
            return existing
        staging = Path(tempfile.mkdtemp(prefix="registry-"))
        try:
            for name in (*FILES.values(), CHECKSUMS):
                if (folder / name).is_file():
                    shutil.copy2(folder / name, staging / name)
            write_mlmodel(staging, metadata, run_id)
            artifact_path = f"{MODEL_ARTIFACTS}/{model_id}"
            self.client.log_artifacts(run_id, str(staging), artifact_path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        try:
            self.client.create_registered_model(
                self.name, description="Churn models of customer_retention (one per retrain)"
            )
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        checksums = _read_json(folder / CHECKSUMS) or {}
        promotion = metadata.get("promotion") or {}
        tags = {
            "model_id": model_id,
            "model_kind": str(metadata.get("model_kind", "xgboost")),
            "created_at": str(metadata.get("created_at")),
            "decision": str(promotion.get("decision")),
            **{f"sha256.{name}": digest for name, digest in checksums.items()},
        }
        run = self.client.get_run(run_id)
        version = self.client.create_model_version(
            self.name,
            source=f"{run.info.artifact_uri}/{artifact_path}",
            run_id=run_id,
            tags=tags,
            description=promotion.get("reason"),
        )
        logger.info(
            "Registered churn model %s as %s version %s", model_id, self.name, version.version
        )
        return version

    def register(self, run_id: str, data: dict[str, Any]) -> Any:
        """Register a model given as the store takes it (``{"model", "calibrator",
        "metadata"}``), written with the store's own serialisation (same bytes, same sha256)."""
        folder = Path(tempfile.mkdtemp(prefix="model-"))
        try:
            write_model_files(folder, data)
            return self.register_folder(run_id, folder, data["metadata"])
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def set_alias(self, alias: str, version: Any) -> None:
        self.client.set_registered_model_alias(self.name, alias, str(version.version))

    def clear_alias(self, alias: str) -> None:
        if self.alias(alias) is not None:
            self.client.delete_registered_model_alias(self.name, alias)

    def follow_store(
        self, store: PromotedModelDataset, run_id: str | None, *, repair: bool = True
    ) -> str:
        """Put ``champion`` on the version of the model the store serves.

        ``repair``: this is the reconciliation at the start of a run, where any difference is
        a promotion whose alias write did not happen (logged as a warning); after a promotion
        (``repair=False``) moving the alias is the expected write. Returns ``in_step``,
        ``moved`` (the alias was on another version, or on none), ``registered`` (the store's
        model was not in the registry: registered from the store's folder under ``run_id``,
        then the alias set) or ``no_model`` (nothing promoted: the alias is left alone)."""
        model_id = store.current_model_id()
        if model_id is None:
            return "no_model"
        champion = self.alias(CHAMPION)
        if champion is not None and champion.tags.get("model_id") == model_id:
            return "in_step"
        version = self.version_of(model_id)
        outcome = "moved"
        if version is None:
            metadata = store.read_metadata(model_id)
            if metadata is None or run_id is None:
                raise DatasetError(f"Promoted model {model_id} has no metadata: not registered")
            version = self.register_folder(run_id, store._path / model_id, metadata)
            outcome = "registered"
        self.set_alias(CHAMPION, version)
        was = (
            f"version {champion.version} (model {champion.tags.get('model_id')})"
            if champion is not None
            else "no version"
        )
        (logger.warning if repair else logger.info)(
            "Model registry: alias '%s' of %s %s: it was on %s, the promoted store serves model "
            "%s (version %s)",
            CHAMPION,
            self.name,
            "repaired" if repair else "moved",
            was,
            model_id,
            version.version,
        )
        return outcome

    # ------------------------------------------------------------------ serving
    def download_champion(self, mirror: Path) -> str:
        """Download ``models:/<name>@champion`` into ``mirror/<model_id>`` (store layout; kept
        when already there), check its files against the checksums recorded on the version and
        point ``mirror/current.json`` at it. Returns the model id."""
        mlflow = mlflow_module()
        version = self.alias(CHAMPION)
        if version is None:
            raise RegistryError(
                f"The model registry has no '{CHAMPION}' version of {self.name}: run the "
                "retraining job with tracking on this server first (kedro run --pipeline "
                "retrain), or score from the store (tracking.score_from: store)."
            )
        model_id = version.tags.get("model_id", "")
        mirror.mkdir(parents=True, exist_ok=True)
        target = mirror / model_id
        if not target.is_dir():
            staging = mirror / f".download-{uuid.uuid4().hex[:8]}"
            try:
                # models:/<name>@champion, resolved with this client: MLflow's own models:/
                # download reads the process-wide registry URI, not the one given.
                source = self.client.get_model_version_download_uri(self.name, version.version)
                local = Path(
                    mlflow.artifacts.download_artifacts(
                        artifact_uri=source, dst_path=str(staging), tracking_uri=self.uri
                    )
                )
                self._check_files(local, version)
                os.replace(local, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        else:
            self._check_files(target, version)
        store = PromotedModelDataset(path=str(mirror), keep=3)
        write_text_atomic(mirror / POINTER, json.dumps({"model_id": model_id}) + "\n")
        store._prune(keep_id=model_id)
        return model_id

    def _check_files(self, folder: Path, version: Any) -> None:
        import hashlib

        for name in (FILES["model"], FILES["calibrator"]):
            expected = version.tags.get(f"sha256.{name}")
            path = folder / name
            if not path.is_file() or (
                expected and hashlib.sha256(path.read_bytes()).hexdigest() != expected
            ):
                raise RegistryError(
                    f"{self.name} version {version.version} ({CHAMPION}): {name} is missing or "
                    "does not match the checksum recorded when it was registered. Set the alias "
                    "on an intact version, or retrain."
                )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class RegistryChampionDataset(PromotedModelDataset):
    """The registry's champion, read-only, loaded with the promoted store's checks.

    ``path`` is a local mirror with the store's layout (``data/06_models/registry_champion``):
    each load resolves ``models:/<registered_model>@champion``, downloads the version when the
    mirror does not hold it yet, checks it and loads it like the store. Put in place of
    ``promoted_churn_model`` by ``hooks.TrackingHook`` when ``tracking.score_from: registry``.
    """

    def __init__(
        self,
        *,
        path: str,
        tracking_uri: str,
        registered_model: str,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(path=path, keep=3, metadata=metadata)
        self._uri = tracking_uri
        self._registered_model = registered_model
        self._model_id: str | None = None  # resolved once: one model for the whole run

    def _describe(self) -> dict[str, Any]:
        return {
            **super()._describe(),
            "registered_model": self._registered_model,
            "alias": CHAMPION,
        }

    def _registry(self) -> ModelRegistry:
        return ModelRegistry.open(self._uri, self._registered_model)

    def _exists(self) -> bool:
        return self._registry().alias(CHAMPION) is not None

    def load(self) -> dict[str, Any] | None:
        if self._model_id is None or self.current_model_id() != self._model_id:
            self._model_id = self._registry().download_champion(self._path)
            logger.info(
                "Scoring with models:/%s@%s (model %s)",
                self._registered_model,
                CHAMPION,
                self._model_id,
            )
        return super().load()

    def save(self, data: dict[str, Any]) -> None:
        raise DatasetError(
            "The registry's champion is read-only here: promotion writes the store "
            "(data/06_models/promoted) and the alias follows it."
        )
