"""The model registry: which trained artifacts exist and which one the workers use.

Reads and verifies `model.json` and the weights' sha256 without TensorFlow, so it runs in the web
process. Registering the same weights twice is a no-op, except that a moved folder's stored path
is updated; a new version is a new row.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from cases.audit import record_event, snapshot
from cases.models.audit import AuditAction
from inference.engine.artifact import read_model_info, verify_weights
from inference.engine.errors import ModelArtifactError
from inference.models import ModelVersion

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

log = logging.getLogger(__name__)


def _stored_path(folder: Path) -> str:
    """Inside the project, keep the path relative so an installation can be moved."""
    folder = folder.resolve()
    try:
        return folder.relative_to(Path(settings.BASE_DIR).resolve()).as_posix()
    except ValueError:
        return folder.as_posix()


def artifact_path(version: ModelVersion) -> Path:
    path = Path(version.path)
    return path if path.is_absolute() else Path(settings.BASE_DIR) / path


def _backbone_name(info: dict[str, Any]) -> str:
    """`backbone` in model.json is a name, or a dict with the name and the starting weights."""
    backbone = info.get("backbone") or info["architecture"].get("backbone", "")
    return str(backbone.get("name", "") if isinstance(backbone, dict) else backbone)[:40]


@dataclass(frozen=True)
class Registration:
    """What `register_artifact` did: the version, whether it is new, and the stored folder it replaced
    (`moved_from`) when known weights were registered again from the folder they had moved to."""

    version: ModelVersion
    created: bool
    moved_from: str | None = None


def _holds_weights(folder: Path, sha: str) -> bool:
    """Whether `folder` is still a valid artifact of the weights with this sha256."""
    try:
        info = read_model_info(folder)
        verify_weights(folder, info)
    except ModelArtifactError:
        return False
    return bool(info["weights"]["sha256"] == sha)


def register_artifact(
    folder: str | Path, *, activate: bool = False, actor: User | AnonymousUser | None = None
) -> Registration:
    """Verify an artifact folder and record it. Known weights (same sha256) keep their row; its stored
    folder moves to `folder` when the stored one no longer holds those weights (audited)."""
    folder = Path(folder)
    info = read_model_info(folder)
    verify_weights(folder, info)
    sha = str(info["weights"]["sha256"])
    moved_from = None
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().filter(weights_sha256=sha).first()
        created = version is None
        if version is None:
            version = ModelVersion.objects.create(
                name=str(info.get("name") or folder.name),
                version=str(info.get("version") or info.get("created_at") or sha[:12])[:40],
                backbone=_backbone_name(info),
                weights_sha256=sha,
                classes=list(info["classes"]),
                preprocessing=dict(info.get("preprocessing") or {}),
                metrics=dict(info.get("metrics") or {}),
                manifest=info,
                path=_stored_path(folder),
            )
            record_event(actor=actor, action=AuditAction.CREATE, target=version, after=snapshot(version))
        elif version.path != _stored_path(folder) and not _holds_weights(artifact_path(version), sha):
            moved_from = version.path
            version.path = _stored_path(folder)
            version.save(update_fields=["path", "updated_at"])
            record_event(
                actor=actor,
                action=AuditAction.UPDATE,
                target=version,
                before={"path": moved_from},
                after={"path": version.path},
            )
            log.info("Model %s moved: its folder is now %s (was %s).", version, version.path, moved_from)
        if activate and not version.is_active:
            activate_model(version, actor=actor)
    return Registration(version, created, moved_from)


def register_model(
    folder: str | Path, *, activate: bool = False, actor: User | AnonymousUser | None = None
) -> tuple[ModelVersion, bool]:
    """Verify an artifact folder and record it; returns (version, created). See `register_artifact`."""
    registration = register_artifact(folder, activate=activate, actor=actor)
    return registration.version, registration.created


def activate_model(version: ModelVersion, *, actor: User | AnonymousUser | None = None) -> ModelVersion:
    """Make `version` the one new analyses use; earlier analyses keep pointing at theirs.

    Its folder must still hold the weights it was registered with (not only match its own model.json)."""
    folder = artifact_path(version)
    info = read_model_info(folder)
    verify_weights(folder, info)
    if info["weights"]["sha256"] != version.weights_sha256:
        raise ModelArtifactError(
            f"Model folder {version.path!r} now holds other weights (sha256 {info['weights']['sha256']}) "
            f"than {version.name} {version.version} was registered with ({version.weights_sha256}); "
            "not activated. Register the folder as a new version, or restore the registered weights there."
        )
    with transaction.atomic():
        previous = (
            ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=version.pk).first()
        )
        if previous is not None:
            previous.is_active = False
            previous.save(update_fields=["is_active", "updated_at"])
        version.is_active = True
        version.save(update_fields=["is_active", "updated_at"])
        record_event(
            actor=actor,
            action=AuditAction.UPDATE,
            target=version,
            before={"active_version": str(previous.external_id) if previous else None},
            after={"active_version": str(version.external_id)},
        )
    return version


def active_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def find_version(reference: str) -> ModelVersion:
    """A version by external id, by weights sha256 (or a unique prefix of 8+), or by `name:version`."""
    try:
        return ModelVersion.objects.get(external_id=uuid.UUID(reference))
    except (ValueError, ModelVersion.DoesNotExist):
        pass  # not an external id: try the other forms
    if ":" in reference:
        name, version = reference.split(":", 1)
        found = ModelVersion.objects.filter(name=name, version=version)
    elif len(reference) >= 8:
        found = ModelVersion.objects.filter(weights_sha256__startswith=reference.lower())
    else:
        found = ModelVersion.objects.none()
    if found.count() != 1:
        raise ModelVersion.DoesNotExist(
            f"No single registered model matches {reference!r}; see `manage.py list_models`."
        )
    return found.get()


def ensure_default_model() -> ModelVersion | None:
    """On first run, register and activate the shipped model; later runs change nothing."""
    existing = active_model()
    if existing is not None:
        return existing
    folder = Path(settings.DEFAULT_MODEL_DIR)
    if not (folder / "model.json").is_file():
        return None
    version, _ = register_model(folder, activate=True)
    return version
