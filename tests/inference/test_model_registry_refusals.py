"""What the database cannot hold, or a model.json that cannot be read, is refused with a message before
anything is written: never a database error or a plain Python error (which the admin shows as a 500)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cases.models import AuditEvent
from inference.engine.artifact import read_model_info
from inference.engine.errors import ModelArtifactError
from inference.models import ModelVersion
from inference.registry import register_model
from tests.inference.model_artifacts import make_artifact, model_json, write_model_json

pytestmark = pytest.mark.django_db


def _with_raw_entry(folder: Path, raw: str) -> Path:
    """Adds `"extra": raw` to model.json as text, for what json.dumps would not write."""
    text = (folder / "model.json").read_text()
    (folder / "model.json").write_text(text[:-1] + f', "extra": {raw}}}')
    return folder


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("NaN", "NaN is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ('{"loss": Infinity}', "Infinity is not a JSON number"),
        ("1e400", "'1e400' is not a finite number"),
        ("1" + "0" * 5000, "5001 digits"),
    ],
)
def test_numbers_the_database_cannot_store_are_refused(tmp_path: Path, raw: str, message: str) -> None:
    folder = _with_raw_entry(make_artifact(tmp_path / "m"), raw)
    with pytest.raises(CommandError, match=f"not valid JSON: .*{message}"):
        call_command("register_model", str(folder))
    assert not ModelVersion.objects.exists()


def test_deep_nesting_or_an_unreadable_file_is_a_model_artifact_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = _with_raw_entry(make_artifact(tmp_path / "deep"), "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelArtifactError, match="nested too deeply"):
        read_model_info(deep)
    unreadable = make_artifact(tmp_path / "unreadable", b"other")

    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(
        ModelArtifactError, match=r"Cannot read model.json in 'unreadable': .*Permission denied"
    ):
        read_model_info(unreadable)


@pytest.mark.parametrize(
    ("entry", "length", "message"),
    [
        ("name", 101, "The model name 'NNN.*is 101 characters long; the registry holds at most 100"),
        ("version", 41, "The model version 'NNN.*is 41 characters long; the registry holds at most 40"),
    ],
)
def test_a_name_or_version_too_long_is_refused_never_cut_short(
    tmp_path: Path, entry: str, length: int, message: str
) -> None:
    folder = make_artifact(tmp_path / "m", **{entry: "N" * length})
    with pytest.raises(CommandError, match=message):
        call_command("register_model", str(folder))
    assert not ModelVersion.objects.exists()


def test_the_same_name_and_version_with_other_weights_asks_for_another_version(tmp_path: Path) -> None:
    first, _ = register_model(make_artifact(tmp_path / "a", b"weights-a", version="1.0"))
    retrained = make_artifact(tmp_path / "b", b"weights-b", version="1.0")
    with pytest.raises(
        CommandError, match=r"tiny 1.0 is already registered with other weights .*another 'version'"
    ):
        call_command("register_model", str(retrained))
    assert list(ModelVersion.objects.all()) == [first]


# All of model.json is stored (the row's fields and `manifest`), so text anywhere in it must be text the
# database can hold: PostgreSQL's text and jsonb refuse NUL, and a lone surrogate escape is not UTF-8.
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"training_command": "python manage.py train_classifier --out m\x00"},
            r"'training_command' holds a NUL character \(\\x00\)",
        ),
        ({"metrics": {"val": {"notes": ["ok", "card\x00text"]}}}, r"'metrics.val.notes\[1\]' holds a NUL"),
        ({"trust": {"stain\x00": 1.0}}, r"'trust.stain\\x00' holds a NUL"),
        ({"name": "tiny\x00"}, r"'name' holds a NUL"),
        ({"backbone": "mobile\x00net"}, r"'backbone' holds a NUL"),
        ({"version": "1.0\ud800"}, r"'version' holds an unpaired surrogate \('\\ud800'\)"),
        ({"intended_use": "screening \udfff"}, r"'intended_use' holds an unpaired surrogate"),
    ],
)
def test_text_the_database_cannot_hold_is_refused_before_anything_is_stored(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    folder = make_artifact(tmp_path / "m", **changes)
    with pytest.raises(CommandError, match=rf"model.json in 'm': {message}.* register the folder again"):
        call_command("register_model", str(folder))
    assert not ModelVersion.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_registered_folder_rewritten_with_a_nul_keeps_its_record(tmp_path: Path) -> None:
    folder = make_artifact(tmp_path / "m")
    version, _ = register_model(folder)
    write_model_json(folder, {**model_json(folder), "training_command": "retrained\x00"})
    with pytest.raises(ModelArtifactError, match="'training_command' holds a NUL character"):
        register_model(folder)
    stored = ModelVersion.objects.get()
    assert (stored.model_json_sha256, stored.manifest) == (version.model_json_sha256, version.manifest)
    assert not AuditEvent.objects.filter(action="update").exists()


def test_a_folder_path_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    folder = make_artifact(Path(os.fsdecode(bytes(tmp_path) + b"/m\xff")))
    with pytest.raises(
        ModelArtifactError, match=r"The model folder's path '.*m\\udcff' holds an unpaired surrogate"
    ):
        register_model(folder)
    assert not ModelVersion.objects.exists()
