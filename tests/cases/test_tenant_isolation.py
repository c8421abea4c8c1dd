"""Rows of another institution do not exist for a user: every URL that takes an id answers 404 (as for
an id that exists nowhere), nothing is changed, and no list or search shows them.

The id-taking URLs are read from `cases.urls`, so a new one fails `test_every_id_url_is_covered` until
it is added here.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, resolve, reverse
from PIL import Image

from accounts.models import Institution, User
from cases.forms import CaseForm, PatientForm
from cases.models import AuditEvent, Case, CaseState, Patient, Slide, SlideImage
from cases.models.audit import AuditAction
from cases.services.slides import upload_slide_image
from cases.urls import urlpatterns
from tests.conftest import client_for
from tests.factories import CaseFactory, PatientFactory, SlideFactory


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class World:
    patient: Patient
    case: Case
    slide: Slide
    image: SlideImage
    # The outsider's own rows, so their lists are not trivially empty.
    their_patient: Patient
    their_case: Case


@pytest.fixture
def world(technician: User, hospital: Institution, other_hospital: Institution) -> World:
    patient = PatientFactory(
        institution=hospital,
        medical_record_number="STM-MRN-4471",
        given_name="Aoife",
        family_name="Hospitaldottir",
    )
    case = CaseFactory(patient=patient, accession_number="STM-ACC-9001")
    slide = SlideFactory(case=case, label="Left")
    image = upload_slide_image(technician, slide, SimpleUploadedFile("field-1.png", _png(1)))
    their_patient = PatientFactory(
        institution=other_hospital, medical_record_number="NSC-MRN-0002", family_name="Northsider"
    )
    their_case = CaseFactory(patient=their_patient, accession_number="NSC-ACC-0003")
    return World(patient, case, slide, image, their_patient, their_case)


def _upload_data() -> dict[str, Any]:
    return {"images": [SimpleUploadedFile("sneaky.png", _png(2), content_type="image/png")]}


@dataclass(frozen=True)
class IdUrl:
    target: Callable[[World], Any]  # the row whose external id goes in the URL
    post_data: Callable[[], dict[str, Any]]  # a request that would change something if it got through


ID_URLS: dict[str, IdUrl] = {
    "case_detail": IdUrl(lambda w: w.case, dict),
    "slide_create": IdUrl(
        lambda w: w.case, lambda: {"label": "Injected", "stain": "giemsa", "collected_at": "2024-05-01T10:00"}
    ),
    "case_transition": IdUrl(lambda w: w.case, lambda: {"to_state": CaseState.SUBMITTED}),
    "image_upload": IdUrl(lambda w: w.slide, _upload_data),
    "slide_image_file": IdUrl(lambda w: w.image, dict),
    "patient_detail": IdUrl(lambda w: w.patient, dict),
}


def _id_taking_url_names() -> set[str]:
    return {p.name for p in urlpatterns if isinstance(p, URLPattern) and p.name and p.pattern.converters}


def test_every_id_url_is_covered() -> None:
    found = _id_taking_url_names()
    assert found, "no id-taking URLs found: the detection is broken"
    missing = found - set(ID_URLS)
    assert not missing, f"add these id-taking URLs to ID_URLS: {sorted(missing)}"
    stale = set(ID_URLS) - found
    assert not stale, f"these URLs are gone from cases.urls: {sorted(stale)}"


def _url(name: str, external_id: Any) -> str:
    return reverse(f"cases:{name}", args=[external_id])


def _implements(name: str, method: str) -> bool:
    view_class = resolve(_url(name, uuid.uuid4())).func.view_class
    return hasattr(view_class, method)


def _expected_refusal(name: str, method: str) -> int:
    # A method the view does not have is 405 whatever the id, which tells nothing either.
    return 404 if _implements(name, method) else 405


def _call(user: User, method: str, url: str, data: dict[str, Any]) -> Any:
    client = client_for(user)
    return client.get(url) if method == "get" else client.post(url, data)


def _snapshot(world: World) -> dict[str, Any]:
    return {
        "slides": Slide.objects.filter(case=world.case).count(),
        "images": SlideImage.objects.filter(case=world.case).count(),
        "state": Case.objects.get(pk=world.case.pk).state,
        "case_views": AuditEvent.objects.filter(
            action=AuditAction.VIEW,
            target_id__in=[str(world.case.external_id), str(world.patient.external_id)],
        ).count(),
    }


METHODS = ["get", "post"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(ID_URLS))
def test_outsider_gets_404_with_the_hospitals_ids(
    outsider: User, world: World, name: str, method: str
) -> None:
    spec = ID_URLS[name]
    before = _snapshot(world)
    response = _call(outsider, method, _url(name, spec.target(world).external_id), spec.post_data())
    assert response.status_code == _expected_refusal(name, method)
    assert world.case.accession_number.encode() not in response.content
    assert world.patient.family_name.encode() not in response.content
    # Nothing was changed or even logged as seen.
    assert _snapshot(world) == before


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(ID_URLS))
def test_a_random_id_gets_404(supervisor: User, world: World, name: str, method: str) -> None:
    response = _call(supervisor, method, _url(name, uuid.uuid4()), ID_URLS[name].post_data())
    assert response.status_code == _expected_refusal(name, method)


@pytest.mark.parametrize(
    ("name", "method"), [(n, m) for n in sorted(ID_URLS) for m in METHODS if _implements(n, m)]
)
def test_the_hospitals_own_supervisor_is_not_refused(
    supervisor: User, world: World, name: str, method: str
) -> None:
    # The control: the same URLs work for a member, so the 404s above are about the institution.
    spec = ID_URLS[name]
    response = _call(supervisor, method, _url(name, spec.target(world).external_id), spec.post_data())
    assert response.status_code in {200, 302}, response.status_code


def test_case_create_with_another_institutions_patient_is_404(outsider: User, world: World) -> None:
    client = client_for(outsider)
    url = reverse("cases:case_create")
    assert client.get(url, {"patient": str(world.patient.external_id)}).status_code == 404
    assert client.get(url, {"patient": str(uuid.uuid4())}).status_code == 404
    assert client.get(url, {"patient": "not-a-uuid"}).status_code == 404
    # Their own patient is fine (the control).
    assert client.get(url, {"patient": str(world.their_patient.external_id)}).status_code == 200


def test_case_create_form_does_not_offer_or_accept_another_institutions_patient(
    outsider: User, supervisor: User, world: World
) -> None:
    client = client_for(outsider)
    page = client.get(reverse("cases:case_create"))
    assert world.patient.family_name.encode() not in page.content
    # The value a member of the hospital would post for that patient.
    value = CaseForm(user=supervisor).fields["patient"].prepare_value(world.patient)
    response = client.post(
        reverse("cases:case_create"),
        {"patient": value, "accession_number": "NSC-STOLEN-1", "specimen_type": "peripheral_blood"},
    )
    assert response.status_code == 400
    assert not Case.objects.filter(accession_number="NSC-STOLEN-1").exists()
    assert Case.objects.filter(patient=world.patient).count() == 1


def test_patient_create_does_not_accept_another_institution(
    outsider: User, technician: User, world: World
) -> None:
    hospital = world.patient.institution
    value = PatientForm(user=technician).fields["institution"].prepare_value(hospital)
    response = client_for(outsider).post(
        reverse("cases:patient_create"),
        {
            "institution": value,
            "medical_record_number": "PLANTED-1",
            "given_name": "Planted",
            "family_name": "Record",
            "date_of_birth": "1990-01-01",
            "sex": "unknown",
        },
    )
    assert response.status_code == 400
    assert not Patient.objects.filter(medical_record_number="PLANTED-1").exists()


# ---- lists and search ----------------------------------------------------------------------------

HOSPITAL_MARKERS = ["STM-ACC-9001", "STM-MRN-4471", "Hospitaldottir"]
OUTSIDER_MARKERS = ["NSC-ACC-0003", "NSC-MRN-0002", "Northsider"]


def _page(user: User, name: str, **query: str) -> str:
    """The rows of a list page (the search box echoes the query, so only the table counts)."""
    response = client_for(user).get(reverse(f"cases:{name}"), query)
    assert response.status_code == 200
    rows = re.search(r"<tbody>(.*)</tbody>", response.content.decode(), re.DOTALL)
    assert rows is not None
    return rows.group(1)


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("case_list", {}),
        ("case_list", {"q": "STM-ACC-9001"}),
        ("case_list", {"q": "STM-MRN-4471"}),
        ("case_list", {"q": "Hospitaldottir"}),
        ("case_list", {"q": "Aoife"}),
        ("case_list", {"state": CaseState.DRAFT}),
        ("patient_list", {}),
        ("patient_list", {"q": "STM-MRN-4471"}),
        ("patient_list", {"q": "Hospitaldottir"}),
    ],
)
def test_lists_and_search_never_show_another_institution(
    outsider: User, technician: User, world: World, name: str, query: dict[str, str]
) -> None:
    seen_by_outsider = _page(outsider, name, **query)
    for marker in HOSPITAL_MARKERS:
        assert marker not in seen_by_outsider
    seen_by_member = _page(technician, name, **query)
    for marker in OUTSIDER_MARKERS:
        assert marker not in seen_by_member
    # The control: the same search finds the hospital's row for its own staff.
    if query:
        assert any(marker in seen_by_member for marker in HOSPITAL_MARKERS)


def test_unfiltered_lists_show_each_institution_its_own_rows(
    outsider: User, technician: User, world: World
) -> None:
    assert "NSC-ACC-0003" in _page(outsider, "case_list")
    assert "Northsider" in _page(outsider, "patient_list")
    assert "STM-ACC-9001" in _page(technician, "case_list")
    assert "Hospitaldottir" in _page(technician, "patient_list")
