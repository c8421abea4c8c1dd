"""The administration has no log-in form of its own: /admin/login/ sends people to the one log-in page
(allauth's), where failed attempts are counted. Django's admin form had no limit (the right password
still worked after 30 wrong guesses) and answered a right password of an account without admin access
("no access to the administration") differently from a wrong one."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

LOGIN_FOR_THE_ADMIN = "/accounts/login/?next=/admin/"


def test_the_admin_sends_people_to_the_one_login_page_and_back() -> None:
    response = Client().get("/admin/login/?next=/admin/cases/patient/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/cases/patient/"


def test_a_supervisor_logs_in_for_the_admin_on_the_one_login_page(supervisor: User) -> None:
    client = Client()
    response = client.get("/admin/", follow=True)
    assert response.request["PATH_INFO"] == "/accounts/login/"
    login_url = response.redirect_chain[-1][0]
    assert login_url == LOGIN_FOR_THE_ADMIN

    response = client.post(login_url, {"login": supervisor.email, "password": TEST_PASSWORD}, follow=True)
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/admin/"


def test_the_admin_login_url_no_longer_takes_a_password(supervisor: User) -> None:
    # The review's brute force: 30 wrong guesses, then the right password, all on /admin/login/.
    client = Client()
    for attempt in range(30):
        client.post("/admin/login/", {"username": supervisor.email, "password": f"guess-{attempt}"})
    response = client.post("/admin/login/", {"username": supervisor.email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == LOGIN_FOR_THE_ADMIN
    assert "_auth_user_id" not in client.session


def test_guesses_for_the_admin_are_counted_by_the_login_limit(supervisor: User) -> None:
    client = Client()
    for attempt in range(5):
        client.post(LOGIN_FOR_THE_ADMIN, {"login": supervisor.email, "password": f"guess-{attempt}"})
    response = client.post(LOGIN_FOR_THE_ADMIN, {"login": supervisor.email, "password": TEST_PASSWORD})
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_does_not_tell_a_right_password_from_a_wrong_one(technician: User) -> None:
    # A technician has no admin access; the admin used to say so only when the password was right.
    for password in ("not-the-password-1", TEST_PASSWORD):
        client = Client()
        response = client.post(
            "/admin/login/?next=/admin/", {"username": technician.email, "password": password}
        )
        assert response.status_code == 302
        assert response["Location"] == LOGIN_FOR_THE_ADMIN
        assert "_auth_user_id" not in client.session


def test_an_account_without_admin_access_logs_in_and_is_refused_the_admin(technician: User) -> None:
    # On the one login page the right password logs a technician in, as it does without `next`;
    # the admin then refuses them plainly instead of sending them back to log in.
    client = Client()
    response = client.post(
        LOGIN_FOR_THE_ADMIN, {"login": technician.email, "password": TEST_PASSWORD}, follow=True
    )
    assert client.session["_auth_user_id"] == str(technician.pk)
    assert response.status_code == 403


def test_an_administrator_already_logged_in_skips_the_login(supervisor: User) -> None:
    client = Client()
    client.force_login(supervisor)
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
