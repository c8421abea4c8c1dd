"""Switching the active model: activating the active one changes nothing and audits nothing; every
refusal, including an unreadable model.json, is a message in the admin, never a server error."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse

from accounts.models import User
from cases.models import AuditEvent
from inference.models import ModelVersion
from inference.registry import activate_model, register_model
from tests.conftest import client_for
from tests.inference.model_artifacts import make_artifact

pytestmark = pytest.mark.django_db


def _activate_in_admin(user: User, version: ModelVersion) -> list[str]:
    response = client_for(user).post(
        reverse("admin:inference_modelversion_changelist"),
        {"action": "activate", "_selected_action": [version.pk]},
    )
    assert response.status_code == 302
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_activating_the_active_version_is_a_no_op_without_an_audit_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version, _ = register_model(make_artifact(tmp_path / "m1"), activate=True)
    events = AuditEvent.objects.count()
    call_command("activate_model", version.weights_sha256[:12])
    assert AuditEvent.objects.count() == events
    assert "is already the active model; nothing changed." in capsys.readouterr().out
    assert activate_model(version) is False
    assert AuditEvent.objects.count() == events
    assert ModelVersion.objects.get().is_active


def test_the_admin_reports_an_unreadable_model_json_and_an_active_version(
    tmp_path: Path, supervisor: User
) -> None:
    supervisor.is_superuser = True
    supervisor.save(update_fields=["is_superuser"])
    active, _ = register_model(make_artifact(tmp_path / "active", b"one"), activate=True)
    other, _ = register_model(make_artifact(tmp_path / "other", b"two", version="2"))
    (tmp_path / "other" / "model.json").write_text('{"format_version": 1, "x": 1' + "0" * 5000 + "}")
    (message,) = _activate_in_admin(supervisor, other)
    assert message.startswith("tiny 2 was not activated: model.json in 'other' is not valid JSON")
    assert list(ModelVersion.objects.filter(is_active=True)) == [active]
    assert _activate_in_admin(supervisor, active) == [
        f"tiny {active.version} is already the active model; nothing changed."
    ]
