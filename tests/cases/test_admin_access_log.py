"""Opening a patient or a case in the admin writes an access-log row, like the pages do."""

from __future__ import annotations

import pytest

from accounts.models import User
from cases.models import AuditEvent, Slide
from tests.conftest import client_for


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["patient", "case"])
def test_admin_view_is_logged(supervisor: User, slide: Slide, kind: str) -> None:
    row = slide.case if kind == "case" else slide.case.patient
    response = client_for(supervisor).get(f"/admin/cases/{kind}/{row.external_id}/change/")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="view", target_id=str(row.external_id))
    assert event.actor == supervisor
    assert event.source == "admin"


@pytest.mark.django_db
def test_outsider_admin_view_logs_nothing(outsider: User, slide: Slide) -> None:
    client_for(outsider).get(f"/admin/cases/case/{slide.case.external_id}/change/")
    assert not AuditEvent.objects.filter(action="view").exists()
