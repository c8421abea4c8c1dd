"""The admin is for supervisors (without being superusers) and superusers; technicians, pathologists
and integration accounts get no access. Logging in for the admin is on the one log-in page
(test_admin_login_is_the_one_login.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User
from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_supervisor_who_is_not_staff_uses_the_admin(supervisor: User) -> None:
    assert not supervisor.is_staff
    assert not supervisor.is_superuser
    response = client_for(supervisor).get(reverse("admin:index"))
    assert response.status_code == 200
    assert "Patients" in response.content.decode()


def test_a_superuser_uses_the_admin(db: None) -> None:
    root = UserFactory(is_superuser=True, is_staff=True)
    assert client_for(root).get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("persona", ["technician", "pathologist", "integration"], indirect=True)
def test_other_roles_are_refused(persona: User) -> None:
    client = client_for(persona)
    for url in (reverse("admin:index"), reverse("admin:cases_patient_changelist")):
        response = client.get(url, follow=True)
        assert response.status_code == 403


@pytest.mark.parametrize("persona", ["technician", "pathologist"], indirect=True)
def test_staff_flag_alone_is_not_enough(persona: User) -> None:
    persona.is_staff = True
    persona.save()
    assert client_for(persona).get(reverse("admin:index"), follow=True).status_code == 403
