"""The server-rendered pages: log-in, the technician's path from patient to uploaded image, searching,
what each role may see and do, and the access log of case views."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, reverse
from PIL import Image

from accounts.models import Institution, User
from cases.forms import CaseForm, PatientForm
from cases.models import AuditEvent, Case, CaseState, Patient, Slide, SlideImage
from cases.models.audit import AuditAction
from cases.services.slides import upload_slide_image
from cases.transitions import transition
from cases.urls import urlpatterns
from tests.conftest import client_for
from tests.factories import TEST_PASSWORD, CaseFactory, PatientFactory

LOGIN_URL = "/accounts/login/"


def _png(seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _rows(response: Any) -> str:
    """The table body of a list page (the search box echoes the query, so only rows count)."""
    match = re.search(r"<tbody>(.*)</tbody>", response.content.decode(), re.DOTALL)
    assert match is not None
    return match.group(1)


def _patient_post(user: User, institution: Institution, **overrides: str) -> dict[str, Any]:
    # The value the form itself renders for the institution (whatever it keys choices by).
    value = PatientForm(user=user).fields["institution"].prepare_value(institution)
    data = {
        "institution": value,
        "medical_record_number": "MRN-2024-001",
        "given_name": "Niamh",
        "family_name": "Okonkwo",
        "date_of_birth": "2012-03-04",
        "sex": "female",
    }
    return {**data, **overrides}


def _case_post(user: User, patient: Patient, **overrides: str) -> dict[str, Any]:
    value = CaseForm(user=user).fields["patient"].prepare_value(patient)
    data = {
        "patient": value,
        "accession_number": "BM-24-0001",
        "specimen_type": "bone_marrow_aspirate",
        "clinical_notes": "Pancytopenia, query ALL.",
    }
    return {**data, **overrides}


# ---- log-in ------------------------------------------------------------------------------------


def test_login_page_renders(db: None) -> None:
    response = Client().get(LOGIN_URL)
    assert response.status_code == 200
    assert reverse("account_login") == LOGIN_URL
    content = response.content.decode()
    assert 'name="login"' in content
    assert 'name="password"' in content
    assert "csrfmiddlewaretoken" in content


def test_login_by_email_and_password(technician: User) -> None:
    client = Client()
    response = client.post(LOGIN_URL, {"login": technician.email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:case_list")
    assert client.session["_auth_user_id"] == str(technician.pk)
    assert client.get(reverse("cases:case_list")).status_code == 200


def test_login_with_a_wrong_password_fails(technician: User) -> None:
    client = Client()
    response = client.post(LOGIN_URL, {"login": technician.email, "password": "not-the-password-1"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("cases:case_list")).status_code == 302


def test_self_sign_up_is_closed(db: None) -> None:
    client = Client()
    assert client.get("/accounts/signup/").status_code == 404  # not mounted (accounts/urls.py)
    password = "a-long-unusual-passphrase-42"
    response = client.post(
        "/accounts/signup/", {"email": "walk-in@example.org", "password1": password, "password2": password}
    )
    assert response.status_code == 404
    assert not User.objects.filter(email="walk-in@example.org").exists()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "url",
    [
        reverse("cases:case_list"),
        reverse("cases:patient_list"),
        reverse("cases:case_create"),
        reverse("cases:patient_create"),
        reverse("cases:case_detail", args=[uuid.uuid4()]),
        reverse("cases:slide_image_file", args=[uuid.uuid4()]),
    ],
)
def test_anonymous_users_are_sent_to_login(db: None, url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN_URL}?next={url}"


# ---- the technician's path ---------------------------------------------------------------------


def test_technician_registers_a_patient_creates_a_case_adds_a_slide_and_uploads(
    technician: User, hospital: Institution
) -> None:
    client = client_for(technician)

    assert client.get(reverse("cases:patient_create")).status_code == 200
    response = client.post(reverse("cases:patient_create"), _patient_post(technician, hospital))
    patient = Patient.objects.get(medical_record_number="MRN-2024-001")
    assert patient.institution == hospital
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:patient_detail", args=[patient.external_id])

    form_page = client.get(reverse("cases:case_create"), {"patient": str(patient.external_id)})
    assert form_page.status_code == 200
    assert form_page.context["form"].initial["patient"] == patient
    response = client.post(reverse("cases:case_create"), _case_post(technician, patient))
    case = Case.objects.get(accession_number="BM-24-0001")
    assert (case.patient, case.institution, case.state) == (patient, hospital, CaseState.DRAFT)
    assert case.created_by == technician
    assert response["Location"] == reverse("cases:case_detail", args=[case.external_id])

    response = client.post(
        reverse("cases:slide_create", args=[case.external_id]),
        {"label": "BM-L1", "stain": "wright", "collected_at": "2024-05-01T09:30"},
    )
    assert response.status_code == 302
    slide = Slide.objects.get(case=case)
    upload_form = re.search(
        r'<form[^>]*enctype="multipart/form-data"[^>]*>.*?</form>',
        client.get(reverse("cases:case_detail", args=[case.external_id])).content.decode(),
        re.DOTALL,
    )
    assert upload_form is not None
    assert re.search(r'<input type="file" name="images"[^>]*multiple', upload_form.group(0))
    assert (slide.label, slide.stain) == ("BM-L1", "wright")

    data = _png(5)
    response = client.post(
        reverse("cases:image_upload", args=[slide.external_id]),
        {"images": [SimpleUploadedFile("field-07.png", data, content_type="image/png")]},
    )
    assert response.status_code == 302
    image = SlideImage.objects.get(slide=slide)

    detail = client.get(reverse("cases:case_detail", args=[case.external_id]))
    assert detail.status_code == 200
    file_url = reverse("cases:slide_image_file", args=[image.external_id])
    assert f'<img src="{file_url}"' in detail.content.decode()
    assert "field-07.png" in detail.content.decode()

    served = client.get(file_url)
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "private" in served["Cache-Control"]
    assert b"".join(served.streaming_content) == data


def test_a_jpeg_is_served_as_jpeg(technician: User, slide: Slide) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 40, 90)).save(buffer, format="JPEG")
    image = upload_slide_image(technician, slide, SimpleUploadedFile("x.bin", buffer.getvalue()))
    served = client_for(technician).get(reverse("cases:slide_image_file", args=[image.external_id]))
    assert served["Content-Type"] == "image/jpeg"
    assert b"".join(served.streaming_content) == buffer.getvalue()


def test_duplicate_mrn_is_a_form_error_not_a_crash(
    technician: User, hospital: Institution, other_hospital: Institution
) -> None:
    PatientFactory(institution=hospital, medical_record_number="MRN-2024-001")
    response = client_for(technician).post(
        reverse("cases:patient_create"), _patient_post(technician, hospital)
    )
    assert response.status_code == 400
    assert response.context["form"].errors["medical_record_number"] == [
        "A patient with this record number is already registered."
    ]
    assert Patient.objects.filter(medical_record_number="MRN-2024-001").count() == 1
    # Record numbers are per institution: another hospital may use the same one.
    PatientFactory(institution=other_hospital, medical_record_number="MRN-2024-001")


def test_duplicate_accession_is_a_form_error_not_a_crash(technician: User, patient: Patient) -> None:
    CaseFactory(patient=patient, accession_number="BM-24-0001")
    response = client_for(technician).post(reverse("cases:case_create"), _case_post(technician, patient))
    assert response.status_code == 400
    assert response.context["form"].errors["accession_number"] == [
        "This accession number is already used in this institution."
    ]
    assert Case.objects.filter(accession_number="BM-24-0001").count() == 1


def test_an_invalid_slide_is_a_form_error(technician: User, slide: Slide) -> None:
    response = client_for(technician).post(
        reverse("cases:slide_create", args=[slide.case.external_id]), {"stain": "crayon"}
    )
    assert response.status_code == 400
    assert set(response.context["slide_form"].errors) == {"stain", "collected_at"}
    assert Slide.objects.filter(case=slide.case).count() == 1


# ---- searching the case list -------------------------------------------------------------------


@pytest.fixture
def three_cases(hospital: Institution, technician: User) -> list[Case]:
    people = [
        ("MRN-A-100", "Aino", "Virtanen", "ACC-RED-1"),
        ("MRN-B-200", "Bjorn", "Lindqvist", "ACC-GREEN-2"),
        ("MRN-C-300", "Chidi", "Eze", "ACC-BLUE-3"),
    ]
    cases = [
        CaseFactory(
            patient=PatientFactory(
                institution=hospital, medical_record_number=mrn, given_name=given, family_name=family
            ),
            accession_number=accession,
        )
        for mrn, given, family, accession in people
    ]
    transition(cases[1], CaseState.SUBMITTED, actor=technician)
    return cases


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "ACC-GREEN"}, {"ACC-GREEN-2"}),
        ({"q": "acc-blue-3"}, {"ACC-BLUE-3"}),  # case-insensitive
        ({"q": "MRN-A-100"}, {"ACC-RED-1"}),
        ({"q": "Lindqvist"}, {"ACC-GREEN-2"}),
        ({"q": "chidi"}, {"ACC-BLUE-3"}),
        ({"q": "ACC-"}, {"ACC-RED-1", "ACC-GREEN-2", "ACC-BLUE-3"}),
        ({"q": "nobody-has-this"}, set()),
        ({"state": CaseState.SUBMITTED}, {"ACC-GREEN-2"}),
        ({"state": CaseState.DRAFT}, {"ACC-RED-1", "ACC-BLUE-3"}),
        ({"state": CaseState.SIGNED_OUT}, set()),
        ({"state": "not-a-state"}, {"ACC-RED-1", "ACC-GREEN-2", "ACC-BLUE-3"}),  # ignored
        ({"q": "ACC-", "state": CaseState.SUBMITTED}, {"ACC-GREEN-2"}),
        ({"q": "Virtanen", "state": CaseState.SUBMITTED}, set()),
    ],
)
def test_case_list_search_and_state_filter(
    technician: User, three_cases: list[Case], query: dict[str, str], expected: set[str]
) -> None:
    rows = _rows(client_for(technician).get(reverse("cases:case_list"), query))
    shown = {case.accession_number for case in three_cases if case.accession_number in rows}
    assert shown == expected
    if not expected:
        assert "match this search" in rows


# ---- roles -------------------------------------------------------------------------------------


def test_technician_sees_the_create_buttons(technician: User) -> None:
    content = client_for(technician).get(reverse("cases:case_list")).content.decode()
    assert "New case" in content
    assert "Register patient" in content


def test_pathologist_sees_no_create_buttons_on_the_case_list(pathologist: User) -> None:
    response = client_for(pathologist).get(reverse("cases:case_list"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "New case" not in content
    assert "Register patient" not in content
    assert reverse("cases:case_create") not in content


def test_pathologist_sees_no_new_case_button_on_a_patient(pathologist: User, patient: Patient) -> None:
    response = client_for(pathologist).get(reverse("cases:patient_detail", args=[patient.external_id]))
    assert response.status_code == 200
    assert "New case" not in response.content.decode()


def test_pathologist_cannot_create_a_patient_through_the_form(
    pathologist: User, hospital: Institution
) -> None:
    # Whatever the status, nothing is created (the form offers the pathologist no institution).
    client_for(pathologist).post(reverse("cases:patient_create"), _patient_post(pathologist, hospital))
    assert not Patient.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", ["patient_create", "case_create"])
def test_pathologist_gets_403_on_the_create_pages(
    pathologist: User, hospital: Institution, patient: Patient, name: str, method: str
) -> None:
    client = client_for(pathologist)
    url = reverse(f"cases:{name}")
    data = (
        _patient_post(pathologist, hospital) if name == "patient_create" else _case_post(pathologist, patient)
    )
    response = client.get(url) if method == "get" else client.post(url, data)
    assert response.status_code == 403


def test_pathologist_gets_403_adding_a_slide_or_uploading(pathologist: User, slide: Slide) -> None:
    client = client_for(pathologist)
    response = client.post(
        reverse("cases:slide_create", args=[slide.case.external_id]),
        {"label": "P", "stain": "giemsa", "collected_at": "2024-05-01T09:30"},
    )
    assert response.status_code == 403
    response = client.post(
        reverse("cases:image_upload", args=[slide.external_id]),
        {"images": [SimpleUploadedFile("p.png", _png(9), content_type="image/png")]},
    )
    assert response.status_code == 403
    assert Slide.objects.count() == 1
    assert not SlideImage.objects.exists()


# ---- integration accounts are API-only ---------------------------------------------------------


def _page_urls(patient: Patient, slide: Slide, image: SlideImage) -> list[str]:
    """Every page in cases.urls, with real ids of the integration account's own institution."""
    ids = {
        "case_detail": slide.case,
        "slide_create": slide.case,
        "case_transition": slide.case,
        "image_upload": slide,
        "slide_image_file": image,
        "patient_detail": patient,
    }
    urls = []
    for pattern in urlpatterns:
        assert isinstance(pattern, URLPattern)
        if pattern.pattern.converters:
            assert pattern.name in ids, f"give {pattern.name} an id in _page_urls"
            urls.append(reverse(f"cases:{pattern.name}", args=[ids[pattern.name].external_id]))
        else:
            urls.append(reverse(f"cases:{pattern.name}"))
    return urls


def test_integration_account_gets_403_on_every_page(
    integration: User, technician: User, slide: Slide
) -> None:
    image = upload_slide_image(technician, slide, SimpleUploadedFile("i.png", _png(3)))
    client = client_for(integration)
    urls = _page_urls(slide.case.patient, slide, image)
    assert len(urls) == len(urlpatterns)
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"to_state": CaseState.SUBMITTED}).status_code == 403, url
    assert Case.objects.get(pk=slide.case.pk).state == CaseState.DRAFT
    assert client.get(reverse("cases:case_list"), {"q": slide.case.accession_number}).status_code == 403


# ---- the access log ----------------------------------------------------------------------------


def _views_of(row: Case | Patient) -> Any:
    return AuditEvent.objects.filter(action=AuditAction.VIEW, target_id=str(row.external_id))


def test_viewing_a_case_writes_an_access_log_row(pathologist: User, slide: Slide) -> None:
    case = slide.case
    assert not _views_of(case).exists()
    client = client_for(pathologist)
    response = client.get(
        reverse("cases:case_detail", args=[case.external_id]), HTTP_USER_AGENT="pytest-browser"
    )
    assert response.status_code == 200
    event = _views_of(case).get()
    assert event.actor == pathologist
    assert event.actor_label == pathologist.email
    assert event.target_type == "cases.Case"
    assert event.case_external_id == case.external_id
    assert event.institution == case.institution
    assert event.source == "web"
    assert event.user_agent == "pytest-browser"
    assert event.request_id == response["X-Request-ID"]
    client.get(reverse("cases:case_detail", args=[case.external_id]))
    assert _views_of(case).count() == 2  # every view, not the first only


def test_viewing_a_patient_writes_an_access_log_row(pathologist: User, patient: Patient) -> None:
    client_for(pathologist).get(reverse("cases:patient_detail", args=[patient.external_id]))
    event = _views_of(patient).get()
    assert event.actor == pathologist
    assert event.target_type == "cases.Patient"
