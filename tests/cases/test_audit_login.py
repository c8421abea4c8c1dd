"""The access log: a log-in, a log-out and a failed log-in each leave an audit row; a failed one keeps
the e-mail address that was tried and never the password."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from cases.audit.verify import verify_chain
from cases.models import AuditEvent
from cases.models.audit import AuditAction, AuditSource
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def _log_in(client: Client, email: str, password: str) -> None:
    client.post(reverse("account_login"), {"login": email, "password": password}, REMOTE_ADDR="10.1.2.3")


def test_a_login_is_audited(technician: User) -> None:
    client = Client()
    _log_in(client, technician.email, TEST_PASSWORD)

    event = AuditEvent.objects.get(action=AuditAction.LOGIN)
    assert event.actor == technician
    assert event.actor_label == technician.email
    assert event.source == AuditSource.WEB
    assert event.ip_address == "10.1.2.3"
    assert verify_chain().intact


def test_a_logout_is_audited(technician: User) -> None:
    client = Client()
    _log_in(client, technician.email, TEST_PASSWORD)
    client.post(reverse("account_logout"))

    event = AuditEvent.objects.get(action=AuditAction.LOGOUT)
    assert event.actor == technician


def test_a_failed_login_records_the_address_tried_and_not_the_password(technician: User) -> None:
    wrong_password = "not-the-password-42"
    client = Client()
    _log_in(client, technician.email, wrong_password)

    assert not AuditEvent.objects.filter(action=AuditAction.LOGIN).exists()
    event = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert event.actor is None
    assert event.actor_label == technician.email
    assert event.after == {"attempted_email": technician.email}
    everything = json.dumps([str(value) for value in AuditEvent.objects.values().get(pk=event.pk).values()])
    assert wrong_password not in everything
    assert TEST_PASSWORD not in everything


def test_a_failed_login_for_an_unknown_address_is_audited() -> None:
    client = Client()
    _log_in(client, "nobody@nowhere.example", "whatever-123456")
    event = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert event.actor_label == "nobody@nowhere.example"
