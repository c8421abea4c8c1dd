"""Internal integer ids never leave the server: every link and form value on the pages and in the
admin names rows by UUID."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import User
from cases.models import Slide
from tests.conftest import client_for

INTEGER_PATH = re.compile(r'(?:href|action|src)="[^"]*/\d+/')
INTEGER_VALUE = re.compile(r'<option value="\d+"|name="_selected_action" value="\d+"')


def _assert_no_integer_ids(html: str) -> None:
    assert not INTEGER_PATH.findall(html)
    assert not INTEGER_VALUE.findall(html)


@pytest.mark.django_db
def test_pages_use_uuids(technician: User, slide: Slide) -> None:
    client = client_for(technician)
    case = slide.case
    for url in [
        reverse("cases:case_list"),
        reverse("cases:case_detail", args=[case.external_id]),
        reverse("cases:patient_list"),
        reverse("cases:patient_detail", args=[case.patient.external_id]),
        reverse("cases:case_create"),
        reverse("cases:patient_create"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_no_integer_ids(response.content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model",
    [
        "cases/patient",
        "cases/case",
        "cases/slide",
        "cases/auditevent",
        "accounts/membership",
        "accounts/user",
    ],
)
def test_admin_links_use_uuids(supervisor: User, slide: Slide, model: str) -> None:
    client = client_for(supervisor)
    response = client.get(f"/admin/{model}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(rf'href="/admin/{model}/[0-9a-f-]{{36}}/change/', html)
    _assert_no_integer_ids(html)


@pytest.mark.django_db
def test_an_audit_row_page_uses_uuids(supervisor: User, slide: Slide) -> None:
    client = client_for(supervisor)
    html = client.get("/admin/cases/auditevent/").content.decode()
    row = re.search(r'href="(/admin/cases/auditevent/[0-9a-f-]{36}/change/)', html)
    assert row
    response = client.get(row.group(1))
    assert response.status_code == 200
    _assert_no_integer_ids(response.content.decode())
