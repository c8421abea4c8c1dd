"""The accounts admin refuses a null character in a search or a filter as the cases admin does (a
message, back to the list at `?e=1`): PostgreSQL text cannot hold one, and a membership list filtered
on `role__exact=%00` had answered 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import Institution, User
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

REFUSED = "Null characters are not allowed."


@pytest.fixture
def root(hospital: Institution) -> User:  # with an institution, whose memberships it may list
    superuser: User = User.objects.create_superuser(email="root@example.org", password="not-used-here")
    return superuser


@pytest.mark.parametrize("persona", ["supervisor", "root"], indirect=True)
@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("admin:accounts_user_changelist", "q=%00"),
        ("admin:accounts_user_changelist", "is_active__exact=%00"),
        ("admin:accounts_user_changelist", "%00=1"),
        ("admin:accounts_membership_changelist", "q=ab%00c"),
        ("admin:accounts_membership_changelist", "role__exact=%00"),
        ("admin:accounts_institution_changelist", "q=%00"),
    ],
)
def test_an_accounts_admin_list_with_a_null_character_answers_as_for_any_bad_parameter(
    persona: User, path: str, query: str
) -> None:
    url = reverse(path)
    response = client_for(persona).get(f"{url}?{query}")
    assert response.status_code == 302
    assert response["Location"] == f"{url}?e=1"
    assert [str(message) for message in get_messages(response.wsgi_request)] == [REFUSED]


def test_the_lists_still_search_and_filter(supervisor: User, technician: User) -> None:
    admin = client_for(supervisor)
    found: Any = admin.get(f"{reverse('admin:accounts_membership_changelist')}?role__exact=technician&q=tech")
    assert found.status_code == 200
    assert [row.user for row in found.context["cl"].result_list] == [technician]
