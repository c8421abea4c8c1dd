"""Of allauth's pages only log-in, log-out and the notice a deactivated account gets are mounted.

E-mail management let staff rename their own log-in e-mail, which is also their audit label, with no
audit row (accounts are named by supervisors, see accounts/admin.py); password reset answered 500
for everyone, since a hospital has no mail set up for it (a supervisor sets a new password in the
administration instead). Sign-up is closed, password change is not offered.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from accounts.models import User
from tests.conftest import client_for
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

NOT_OFFERED = [
    "/accounts/email/",
    "/accounts/confirm-email/",
    "/accounts/password/reset/",
    "/accounts/password/reset/done/",
    "/accounts/password/reset/key/done/",
    "/accounts/password/reset/key/1-set-password/",
    "/accounts/password/change/",
    "/accounts/password/set/",
    "/accounts/signup/",
    "/accounts/reauthenticate/",
    "/accounts/login/code/confirm/",
]


@pytest.mark.parametrize("path", NOT_OFFERED)
def test_pages_the_product_does_not_offer_are_not_found(technician: User, path: str) -> None:
    for client in (Client(raise_request_exception=False), client_for(technician)):
        assert client.get(path).status_code == 404
        assert client.post(path, {"email": technician.email}).status_code == 404


def test_staff_cannot_change_their_own_login_email(technician: User) -> None:
    client = client_for(technician)
    client.raise_request_exception = False
    new = "chief-pathologist@stmary.example"
    for action in ("action_add", "action_primary"):
        assert client.post("/accounts/email/", {action: "", "email": new}).status_code == 404
    assert (
        client.post("/accounts/email/", {"action_remove": "", "email": technician.email}).status_code == 404
    )

    technician.refresh_from_db()
    assert technician.email == "tech@stmary.example"
    assert not EmailAddress.objects.filter(email=new).exists()


def test_nobody_can_ask_for_a_password_reset_mail(supervisor: User) -> None:
    response = Client(raise_request_exception=False).post(
        "/accounts/password/reset/", {"email": supervisor.email}
    )
    assert response.status_code == 404


def test_the_offered_pages_render(technician: User) -> None:
    assert Client().get("/accounts/login/").status_code == 200
    client = client_for(technician)
    assert client.get("/accounts/logout/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_deactivated_account_is_told_so_without_a_server_error(technician: User) -> None:
    technician.is_active = False
    technician.save()
    client = Client()
    response = client.post(
        "/accounts/login/", {"login": technician.email, "password": TEST_PASSWORD}, follow=True
    )
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/accounts/inactive/"
    assert "_auth_user_id" not in client.session
