"""The client's address, for the failed-login limit and the audit trail, behind reverse proxies.

Each proxy appends the address it received the request from to X-Forwarded-For, so with
TRUSTED_PROXY_COUNT proxies of our own the entry that many places from the right is the client's;
entries further left were written by the client and may be forged. With 0 (the default) the header is
not read. Before, the proxy's address stood for every client: five typos anywhere in the lab locked
everyone out, and the audit trail recorded only the proxy.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from cases.models import AuditEvent
from cases.models.audit import AuditAction
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PROXY = "10.0.0.1"


def _log_in(email: str, password: str, remote: str = PROXY, forwarded_for: str | None = None) -> Client:
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    client = Client()
    client.post(LOGIN, {"login": email, "password": password}, REMOTE_ADDR=remote, **headers)
    return client


def _failed_login_address() -> str | None:
    return AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED).ip_address


def _ip_limit(settings: Any) -> int:
    (rate,) = (
        rate for rate in settings.ACCOUNT_RATE_LIMITS["login_failed"].split(",") if rate.endswith("/ip")
    )
    return int(rate.split("/")[0])


def test_behind_a_proxy_each_client_has_its_own_failed_login_limit(settings: Any, pathologist: User) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for number in range(_ip_limit(settings)):
        _log_in(f"typo-{number}@stmary.example", "wrong-password-1", forwarded_for=f"192.168.1.{10 + number}")

    client = _log_in(pathologist.email, TEST_PASSWORD, forwarded_for="192.168.1.99")
    assert client.session["_auth_user_id"] == str(pathologist.pk)


def test_behind_a_proxy_the_audit_records_the_client_and_not_a_forged_entry(
    settings: Any, technician: User
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    _log_in(technician.email, "wrong-password-1", forwarded_for="203.0.113.5, 192.168.1.23")
    assert _failed_login_address() == "192.168.1.23"


def test_behind_two_proxies_the_second_entry_from_the_right_is_the_client(
    settings: Any, technician: User
) -> None:
    settings.TRUSTED_PROXY_COUNT = 2
    _log_in(technician.email, "wrong-password-1", forwarded_for="203.0.113.5, 192.168.1.23, 10.0.0.9")
    assert _failed_login_address() == "192.168.1.23"


@pytest.mark.parametrize("forwarded_for", ["192.168.1.23", "not-an-address, 10.0.0.9", ""])
def test_a_header_the_proxies_did_not_write_falls_back_to_the_peer(
    settings: Any, technician: User, forwarded_for: str
) -> None:
    # Fewer entries than trusted proxies, or garbage where the client's address should be: the
    # header proves nothing, and the request is answered (allauth's own reading raises a 500 here).
    settings.TRUSTED_PROXY_COUNT = 2
    client = _log_in(technician.email, TEST_PASSWORD, forwarded_for=forwarded_for)
    assert client.session["_auth_user_id"] == str(technician.pk)
    assert AuditEvent.objects.get(action=AuditAction.LOGIN).ip_address == PROXY


def test_without_trusted_proxies_the_header_is_not_believed(
    settings: Any, technician: User, pathologist: User
) -> None:
    assert settings.TRUSTED_PROXY_COUNT == 0
    _log_in(technician.email, "wrong-password-1", remote="198.51.100.7", forwarded_for="192.168.1.23")
    assert _failed_login_address() == "198.51.100.7"

    # A forged header per attempt does not buy a fresh limit.
    for number in range(_ip_limit(settings)):
        _log_in(f"typo-{number}@stmary.example", "wrong-password-1", forwarded_for=f"192.168.1.{number}")
    client = _log_in(pathologist.email, TEST_PASSWORD, forwarded_for="192.168.1.200")
    assert "_auth_user_id" not in client.session


def test_one_persons_typos_do_not_lock_out_a_colleague_at_the_same_address(
    technician: User, pathologist: User
) -> None:
    for _ in range(8):  # past their own account's limit
        _log_in(technician.email, "wrong-password-1", remote="192.168.1.50")
    assert "_auth_user_id" not in _log_in(technician.email, TEST_PASSWORD, remote="192.168.1.50").session

    client = _log_in(pathologist.email, TEST_PASSWORD, remote="192.168.1.50")
    assert client.session["_auth_user_id"] == str(pathologist.pk)


def test_an_accounts_limit_holds_across_client_addresses(settings: Any, technician: User) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for number in range(5):
        _log_in(technician.email, "wrong-password-1", forwarded_for=f"192.168.1.{10 + number}")
    client = _log_in(technician.email, TEST_PASSWORD, forwarded_for="192.168.1.99")
    assert "_auth_user_id" not in client.session
