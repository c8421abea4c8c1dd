"""Repeated failed log-ins are throttled (allauth rate limits, counted in the configured cache:
Redis in CI, local memory otherwise)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.factories import TEST_PASSWORD


@pytest.mark.django_db
def test_sixth_failed_login_is_refused_even_with_the_right_password(technician: User) -> None:
    client = Client()
    for _ in range(5):
        response = client.post("/accounts/login/", {"login": technician.email, "password": "wrong-password"})
        assert response.status_code == 200  # the form again, with an error
    response = client.post("/accounts/login/", {"login": technician.email, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_right_password_logs_in(technician: User) -> None:
    client = Client()
    response = client.post("/accounts/login/", {"login": technician.email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(technician.pk)
