"""The model registry: which trained artifacts exist and which one the workers use.

Reads and verifies `model.json` and the weights' sha256 without TensorFlow, so it runs in the web
process. One set of weights is one row. Registering them again records what changed on disk since:
a moved folder's path, or a model.json rewritten in place (a trust state fitted again, say), both
audited with the values they replace; unchanged, it is a no-op. Activation refuses a folder that no
longer matches its row, so the row always describes the model that runs. New weights are a new row.
The commands that rewrite a model.json in place register a registered folder again themselves
(`record_rewritten_model_json`); training refuses a registered folder (`registered_in_folder`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from cases.audit import record_event, snapshot
from cases.audit.service import changed_values
from cases.models.audit import AuditAction
from inference.engine.artifact import (
    MODEL_JSON,
    json_entries,
    model_json_sha256,
    read_model_info,
    verify_weights,
)
from inference.engine.errors import ModelArtifactError
from inference.models import ModelVersion

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import QuerySet

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
    return str(backbone.get("name", "") if isinstance(backbone, dict) else backbone)


def _changed_entries(version: ModelVersion, info: dict[str, Any]) -> list[str]:
    """The top-level model.json entries that differ from the row's; empty when the row matches.

    Versions registered before the sha256 was recorded are compared with their stored model.json."""
    if version.model_json_sha256 == model_json_sha256(info):
        return []
    recorded = version.manifest if isinstance(version.manifest, dict) else {}
    if not version.model_json_sha256 and recorded == info:
        return []
    changed = sorted(key for key in recorded.keys() | info.keys() if recorded.get(key) != info.get(key))
    return changed or ["the way its numbers are written"]


def _within_limit(field: str, value: str, what: str, fix: str) -> str:
    """`value` for a column, refused (never cut short: a cut version could name other weights) when
    longer than the column holds."""
    limit: int | None = getattr(ModelVersion._meta.get_field(field), "max_length", None)
    if limit is not None and len(value) > limit:
        raise ModelArtifactError(
            f"{what} {value[:60]!r}... is {len(value)} characters long; the registry holds at most "
            f"{limit}. {fix}"
        )
    return value


def _unstorable(text: str) -> str | None:
    """What in `text` no database column can hold, or None: NUL, which PostgreSQL's text and jsonb
    refuse, or an unpaired surrogate (a JSON escape such as \\ud800, or a file name's stray byte),
    which is not UTF-8."""
    if "\x00" in text:
        return "a NUL character (\\x00)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"an unpaired surrogate ({text[exc.start]!r})"
    return None


def _refuse_unstorable_text(folder: Path, info: dict[str, Any]) -> None:
    """All of model.json is stored (`manifest`), so every string in it, keys included, must be one the
    database can hold; refused here, naming the entry, instead of failing half-way through a write."""
    for where, leaf in json_entries(info):
        if isinstance(leaf, str) and (problem := _unstorable(leaf)):
            raise ModelArtifactError(
                f"{MODEL_JSON} in {folder.name!r}: {where!r} holds {problem}, which the registry cannot "
                "store. Remove it from model.json and register the folder again."
            )


def _storable_path(folder: Path) -> str:
    """`_stored_path`, refused when a byte of a folder's name is not UTF-8 (Python keeps it as a
    surrogate, which the database cannot store)."""
    path = _stored_path(folder)
    if problem := _unstorable(path):
        raise ModelArtifactError(
            f"The model folder's path {path!r} holds {problem}, which the registry cannot store. "
            "Rename the folder and register it again."
        )
    return path


def _described_fields(info: dict[str, Any]) -> dict[str, Any]:
    """The row's fields that describe a model.json (its name and version are the row's identity)."""
    return {
        "backbone": _within_limit(
            "backbone", _backbone_name(info), "The backbone name", "Shorten it in model.json."
        ),
        "classes": list(info["classes"]),
        "preprocessing": dict(info.get("preprocessing") or {}),
        "metrics": dict(info.get("metrics") or {}),
        "manifest": info,
        "model_json_sha256": model_json_sha256(info),
    }


@dataclass(frozen=True)
class Registration:
    """What `register_artifact` did: the version, whether it is new, the stored folder it replaced
    (`moved_from`) when known weights were registered again from the folder they had moved to, and the
    model.json entries whose change it recorded (`updated`)."""

    version: ModelVersion
    created: bool
    moved_from: str | None = None
    updated: tuple[str, ...] = ()


def _holds_weights(folder: Path, sha: str) -> bool:
    """Whether `folder` is still a valid artifact of the weights with this sha256."""
    try:
        info = read_model_info(folder)
        verify_weights(folder, info)
    except ModelArtifactError:
        return False
    return bool(info["weights"]["sha256"] == sha)


def _locked_version(sha: str) -> ModelVersion | None:
    return ModelVersion.objects.select_for_update().filter(weights_sha256=sha).first()


def _refuse_taken_name(name: str, label: str) -> None:
    taken = ModelVersion.objects.filter(name=name, version=label).first()
    if taken is not None:
        raise ModelArtifactError(
            f"{name} {label} is already registered with other weights (sha256 {taken.weights_sha256}); "
            "a version names one set of weights. Give this model another 'version' in its model.json "
            "and register it again."
        )


def _create_version(
    sha: str, fields: dict[str, Any], actor: User | AnonymousUser | None
) -> tuple[ModelVersion, bool]:
    """(a new row, audited, True); or (the row of these weights, False) when a registration of them
    committed first: a double submit is answered like a second registration, not with an error."""
    _refuse_taken_name(fields["name"], fields["version"])
    try:
        with transaction.atomic():  # a savepoint: the outer transaction survives a refused insert
            version = ModelVersion.objects.create(weights_sha256=sha, **fields)
    except IntegrityError:
        existing = _locked_version(sha)
        if existing is None:
            _refuse_taken_name(fields["name"], fields["version"])  # taken meanwhile for other weights
            raise
        return existing, False
    record_event(actor=actor, action=AuditAction.CREATE, target=version, after=snapshot(version))
    return version, True


def _refuse_unloadable(
    folder: Path, info: dict[str, Any], trial_load: Callable[[Path], dict[str, Any]]
) -> None:
    """Refuse a folder that `trial_load` cannot load, or whose model.json it loaded is not the one
    read here (rewritten meanwhile: what was loaded would not be what is recorded)."""
    try:
        loaded = trial_load(folder)
    except ModelArtifactError as exc:
        raise ModelArtifactError(
            f"{folder.name!r} was not registered: a worker could not load it. {exc}"
        ) from exc
    if model_json_sha256(loaded) != model_json_sha256(info):
        raise ModelArtifactError(
            f"{folder.name!r} was not registered: its {MODEL_JSON} changed while it was being loaded. "
            "Register it again."
        )


def register_artifact(
    folder: str | Path,
    *,
    activate: bool = False,
    actor: User | AnonymousUser | None = None,
    trial_load: Callable[[Path], dict[str, Any]] | None = None,
) -> Registration:
    """Verify an artifact folder and record it. Known weights (same sha256) keep their row: when the
    stored folder no longer holds them, the row moves to `folder`; when the row's folder has a changed
    model.json, the row takes it (both audited with the values they replace).

    `trial_load(folder)` loads the folder as a worker would and returns the model.json it loaded; the
    commands that register pass `worker_load.load_as_a_worker` (TensorFlow: never in the web
    process), so weights that do not fit their architecture are refused before anything is recorded."""
    folder = Path(folder)
    info = read_model_info(folder)
    verify_weights(folder, info)
    _refuse_unstorable_text(folder, info)
    sha = str(info["weights"]["sha256"])
    described = _described_fields(info)
    # Refused here, before any write: the database would cut them short or fail with a bare error.
    fields = {
        "name": _within_limit(
            "name",
            str(info.get("name") or folder.name),
            "The model name",
            "Give model.json a shorter 'name'.",
        ),
        "version": _within_limit(
            "version",
            str(info.get("version") or info.get("created_at") or sha[:12]),
            "The model version",
            "Give model.json a shorter 'version'.",
        ),
        "path": _within_limit(
            "path", _storable_path(folder), "The model folder's path", "Move the folder to a shorter path."
        ),
        **described,
    }
    if trial_load is not None:
        _refuse_unloadable(folder, info, trial_load)
    with transaction.atomic():
        version = _locked_version(sha)
        created = False
        if version is None:
            version, created = _create_version(sha, fields, actor)
        registration = (
            Registration(version, created=True)
            if created
            else _record_changes(version, folder, info, described, actor)
        )
        if activate and not version.is_active:
            activate_model(version, actor=actor)
    return registration


def _record_changes(
    version: ModelVersion,
    folder: Path,
    info: dict[str, Any],
    described: dict[str, Any],
    actor: User | AnonymousUser | None,
) -> Registration:
    """Registered weights registered again: bring the row up to date with what `folder` holds."""
    path = _stored_path(folder)
    changed = _changed_entries(version, info)
    if version.path != path and _holds_weights(artifact_path(version), version.weights_sha256):
        # Another copy of registered weights: the row keeps describing the folder it names.
        if changed:
            raise ModelArtifactError(
                f"These weights are registered as {version.name} {version.version} from {version.path!r}, "
                f"and this folder's model.json differs from the registered one ({', '.join(changed)}). "
                "One version has one folder: register that folder, or remove it first to make this one "
                "the registered folder."
            )
        return Registration(version, created=False)
    if version.path == path and not changed:
        return Registration(version, created=False)
    before = snapshot(version)
    moved_from = version.path if version.path != path else None
    version.path = path
    for field, value in described.items():
        setattr(version, field, value)
    version.save()
    # The replaced values stay in the audit trail: earlier analyses were made with them.
    old, new = changed_values(before, snapshot(version))
    record_event(actor=actor, action=AuditAction.UPDATE, target=version, before=old, after=new)
    if moved_from is not None:
        log.info("Model %s moved: its folder is now %s (was %s).", version, version.path, moved_from)
    if changed:
        log.info("Model %s: its changed model.json was recorded (%s).", version, ", ".join(changed))
    return Registration(version, created=False, moved_from=moved_from, updated=tuple(changed))


def register_model(
    folder: str | Path, *, activate: bool = False, actor: User | AnonymousUser | None = None
) -> tuple[ModelVersion, bool]:
    """Verify an artifact folder and record it; returns (version, created). See `register_artifact`."""
    registration = register_artifact(folder, activate=activate, actor=actor)
    return registration.version, registration.created


def _registered_from(folder: Path) -> QuerySet[ModelVersion]:
    """The versions whose stored folder is `folder` (none where its path could never be stored, or
    where the database has no registry yet: training needs no migrated database)."""
    path = _stored_path(folder)
    if _unstorable(path) or ModelVersion._meta.db_table not in connection.introspection.table_names():
        return ModelVersion.objects.none()
    return ModelVersion.objects.filter(path=path)


def registered_in_folder(folder: str | Path) -> ModelVersion | None:
    """A version registered from `folder`, the active one first, whatever the folder holds now."""
    return _registered_from(Path(folder)).order_by("-is_active", "-created_at").first()


def record_rewritten_model_json(
    folder: str | Path, *, actor: User | AnonymousUser | None = None
) -> Registration | None:
    """For the commands that rewrite a model.json in place (same weights): when `folder` is where its
    weights are registered, register it again, so their row takes the new model.json (audited) and
    activation does not refuse it later. None, with nothing done, when those weights are not registered
    from `folder`."""
    folder = Path(folder)
    sha = read_model_info(folder)["weights"]["sha256"]
    if not _registered_from(folder).filter(weights_sha256=sha).exists():
        return None
    return register_artifact(folder, actor=actor)


def activate_model(version: ModelVersion, *, actor: User | AnonymousUser | None = None) -> bool:
    """Make `version` the one new analyses use; earlier analyses keep pointing at theirs. Returns False,
    changing and auditing nothing, when it already is.

    Its folder must still hold what it was registered with: the same weights (not only weights that
    match its own model.json) and the same model.json."""
    version.refresh_from_db()  # a registration may have brought it up to date meanwhile
    folder = artifact_path(version)
    info = read_model_info(folder)
    verify_weights(folder, info)
    if info["weights"]["sha256"] != version.weights_sha256:
        raise ModelArtifactError(
            f"Model folder {version.path!r} now holds other weights (sha256 {info['weights']['sha256']}) "
            f"than {version.name} {version.version} was registered with ({version.weights_sha256}); "
            "not activated. Register the folder as a new version, or restore the registered weights there."
        )
    changed = _changed_entries(version, info)
    if changed:
        fix = f"Record the change with `manage.py register_model {version.path}` (audited)"
        # The workers reload a changed model.json, so an active version's record is already out of date.
        outcome = (
            f"runs. {fix}." if version.is_active else f"would run; not activated. {fix}, then activate it."
        )
        raise ModelArtifactError(
            f"The model.json in {version.path!r} has changed since {version.name} {version.version} was "
            f"registered ({', '.join(changed)}), so its record no longer describes the model that {outcome}"
        )
    try:
        with transaction.atomic():
            current = ModelVersion.objects.select_for_update().filter(is_active=True).first()
            if current is not None and current.pk == version.pk:
                version.is_active = True
                return False
            if current is not None:
                current.is_active = False
                current.save(update_fields=["is_active", "updated_at"])
            version.is_active = True
            version.save(update_fields=["is_active", "updated_at"])
            record_event(
                actor=actor,
                action=AuditAction.UPDATE,
                target=version,
                before={"active_version": str(current.external_id) if current else None},
                after={"active_version": str(version.external_id)},
            )
    except IntegrityError as exc:
        # Two activations at once: the other one switched first (one active version is a constraint).
        version.is_active = False
        raise ModelArtifactError(
            f"{version.name} {version.version} was not activated: another activation ran at the same "
            "time. Try again (see `manage.py list_models` for the active version)."
        ) from exc
    return True


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


def ensure_default_model(trial_load: Callable[[Path], dict[str, Any]] | None = None) -> ModelVersion:
    """On first run, register and activate the configured model folder (`DEFAULT_MODEL_DIR`: the shipped
    model unless `MARROWFIND_MODEL_DIR` names another); later runs change nothing. A folder that is
    missing or unusable is a ModelArtifactError saying so (`trial_load`: see `register_artifact`)."""
    existing = active_model()
    if existing is not None:
        return existing
    folder = Path(settings.DEFAULT_MODEL_DIR)
    return register_artifact(folder, activate=True, trial_load=trial_load).version
