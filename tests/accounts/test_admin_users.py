"""A supervisor creates an account (e-mail, password and membership of their institution) in the
admin; it is audited, the password works, and other institutions are out of reach."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.urls import reverse

from accounts.models import Institution, Membership, Role, User
from cases.models import AuditEvent
from cases.models.audit import AuditAction, AuditSource
from tests.conftest import client_for
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "glass-slide-microscope-77"


def _form(institution: Institution, email: str = "new.tech@stmary.example") -> dict[str, object]:
    return {
        "email": email,
        "full_name": "New Technician",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "institution": institution.pk,
        "role": Role.TECHNICIAN,
    }


def test_a_supervisor_creates_an_account_with_its_membership(supervisor: User, hospital: Institution) -> None:
    response = client_for(supervisor).post(reverse("admin:accounts_user_add"), _form(hospital))
    assert response.status_code == 302, response.content.decode()[:2000]

    user = User.objects.get(email="new.tech@stmary.example")
    assert Membership.objects.get(user=user).institution == hospital
    assert Membership.objects.get(user=user).role == Role.TECHNICIAN
    assert authenticate(email=user.email, password=NEW_PASSWORD) == user

    created = AuditEvent.objects.filter(action=AuditAction.CREATE, actor=supervisor, source=AuditSource.ADMIN)
    assert set(created.values_list("target_type", flat=True)) == {"accounts.User", "accounts.Membership"}
    user_row = created.get(target_type="accounts.User")
    assert user_row.after["email"] == user.email
    assert "password" not in user_row.after


def test_a_supervisor_cannot_create_an_account_in_another_institution(
    supervisor: User, other_hospital: Institution
) -> None:
    response = client_for(supervisor).post(reverse("admin:accounts_user_add"), _form(other_hospital))
    assert response.status_code == 200  # the form again, with an error on the institution
    assert not User.objects.filter(email="new.tech@stmary.example").exists()


def test_a_supervisor_sees_only_their_people(supervisor: User, technician: User, outsider: User) -> None:
    content = client_for(supervisor).get(reverse("admin:accounts_user_changelist")).content.decode()
    assert technician.email in content
    assert outsider.email not in content


def test_a_supervisor_cannot_reset_the_password_of_someone_who_also_works_elsewhere(
    supervisor: User, technician: User, other_hospital: Institution
) -> None:
    MembershipFactory(user=technician, institution=other_hospital, role=Role.SUPERVISOR)
    url = reverse("admin:auth_user_password_change", args=[technician.pk])
    response = client_for(supervisor).post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 403


def test_a_password_reset_by_a_supervisor_is_audited(supervisor: User, technician: User) -> None:
    url = reverse("admin:auth_user_password_change", args=[technician.pk])
    response = client_for(supervisor).post(
        url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    )
    assert response.status_code == 302
    technician.refresh_from_db()
    assert technician.check_password(NEW_PASSWORD)
    event = AuditEvent.objects.get(action=AuditAction.UPDATE, target_type="accounts.User")
    assert event.actor == supervisor
    assert event.after == {"password": "changed"}
