"""Read-only parts of the admin: the audit log (no add, change or delete), the state history of a case,
and slide images, whose thumbnails come from the permission-checked file view, never from MEDIA."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import Institution, User
from cases.audit import record_event
from cases.models import AuditEvent, SlideImage
from cases.models.audit import AuditAction
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_the_audit_log_cannot_be_added_to_or_changed(supervisor: User, hospital: Institution) -> None:
    event = record_event(
        actor=supervisor, action=AuditAction.VIEW, target_type="test.Row", institution=hospital
    )
    client = client_for(supervisor)
    assert client.get(reverse("admin:cases_auditevent_add")).status_code == 403
    page = client.get(reverse("admin:cases_auditevent_change", args=[event.external_id]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    client.post(
        reverse("admin:cases_auditevent_change", args=[event.external_id]), {"actor_label": "mallory"}
    )
    assert AuditEvent.objects.get(pk=event.pk).actor_label == supervisor.email


def test_an_audit_row_is_not_found_by_its_integer_id(supervisor: User, hospital: Institution) -> None:
    event = record_event(
        actor=supervisor, action=AuditAction.VIEW, target_type="test.Row", institution=hospital
    )
    response = client_for(supervisor).get(reverse("admin:cases_auditevent_change", args=[event.pk]))
    # The admin answers an unknown object with a redirect to the change list and a message.
    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_slide_image_thumbnails_use_the_checked_file_view(supervisor: User, slide: Any) -> None:
    image = SlideImage.objects.create(
        slide=slide,
        case=slide.case,
        file="slides/x/abc.png",
        original_filename="smear.png",
        mime_type="image/png",
        sha256="a" * 64,
        size_bytes=10,
        width=1,
        height=1,
        uploaded_by=supervisor,
    )
    content = client_for(supervisor).get(reverse("admin:cases_slideimage_changelist")).content.decode()
    assert reverse("cases:slide_image_file", args=[image.external_id]) in content
    assert settings.MEDIA_URL + "slides/" not in content
    assert client_for(supervisor).get(reverse("admin:cases_slideimage_add")).status_code == 403


def test_model_versions_are_read_only_for_supervisors(supervisor: User) -> None:
    client = client_for(supervisor)
    assert client.get(reverse("admin:inference_modelversion_changelist")).status_code == 200
    assert client.get(reverse("admin:inference_modelversion_add")).status_code == 403


def test_a_log_in_row_without_an_institution_opens(supervisor: User, hospital: Institution) -> None:
    client = client_for(supervisor)
    login = AuditEvent.objects.get(action=AuditAction.LOGIN, actor=supervisor)
    assert login.institution is None
    page = client.get(reverse("admin:cases_auditevent_change", args=[login.external_id]))
    assert page.status_code == 200
    assert supervisor.email in page.content.decode()
