"""The same file twice on one case is refused, naming the earlier upload; on another case it is welcome."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from accounts.models import Institution, Role, User
from cases.models import AuditEvent, Slide, SlideImage
from cases.models.audit import AuditAction
from cases.services.slides import UploadRejected, upload_slide_image
from tests.conftest import client_for
from tests.factories import MembershipFactory, PatientFactory, SlideFactory


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _file(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/png")


def _files_on_disk() -> list[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _assert_only(images: list[SlideImage]) -> None:
    """Exactly these rows exist, each with its own file and one upload audit row."""
    assert set(SlideImage.objects.all()) == set(images)
    assert _files_on_disk() == sorted(Path(image.file.path) for image in images)
    events = AuditEvent.objects.filter(action=AuditAction.UPLOAD)
    assert sorted(e.target_id for e in events) == sorted(str(i.external_id) for i in images)


@pytest.fixture
def data() -> bytes:
    return _png(seed=11)


def test_same_bytes_twice_on_one_slide_is_refused_naming_the_first(
    technician: User, slide: Slide, data: bytes
) -> None:
    first = upload_slide_image(technician, slide, _file("left-field.png", data))
    with pytest.raises(UploadRejected) as refused:
        upload_slide_image(technician, slide, _file("renamed-copy.png", data))
    message = str(refused.value)
    assert "already uploaded to this case" in message
    assert "“left-field.png”" in message
    assert "renamed-copy.png" not in message
    assert str(technician) in message
    _assert_only([first])


def test_same_bytes_on_another_slide_of_the_same_case_is_refused(
    technician: User, slide: Slide, data: bytes
) -> None:
    first = upload_slide_image(technician, slide, _file("slide-a.png", data))
    other_slide = SlideFactory(case=slide.case, label="B")
    with pytest.raises(UploadRejected, match=r"“slide-a\.png”"):
        upload_slide_image(technician, other_slide, _file("slide-b.png", data))
    assert not other_slide.images.exists()
    _assert_only([first])


def test_duplicate_by_another_user_names_who_uploaded_it_first(
    technician: User, supervisor: User, slide: Slide, data: bytes
) -> None:
    upload_slide_image(technician, slide, _file("first.png", data))
    with pytest.raises(UploadRejected) as refused:
        upload_slide_image(supervisor, slide, _file("second.png", data))
    assert f"“first.png” by {technician} on " in str(refused.value)
    assert str(supervisor) not in str(refused.value)


def test_different_bytes_on_the_same_case_are_accepted(technician: User, slide: Slide, data: bytes) -> None:
    first = upload_slide_image(technician, slide, _file("a.png", data))
    second = upload_slide_image(technician, slide, _file("a.png", _png(seed=12)))
    _assert_only([first, second])


def test_same_bytes_on_another_case_of_the_same_institution_are_accepted(
    technician: User, slide: Slide, data: bytes
) -> None:
    first = upload_slide_image(technician, slide, _file("a.png", data))
    other_case_slide = SlideFactory(case__patient=slide.case.patient)
    assert other_case_slide.case != slide.case
    second = upload_slide_image(technician, other_case_slide, _file("a.png", data))
    assert second.sha256 == first.sha256
    # Two files (same content, distinct names on disk): deleting one never takes the other with it.
    assert first.file.name != second.file.name
    for image in (first, second):
        with image.file.open("rb") as handle:
            assert handle.read() == data
    _assert_only([first, second])


def test_same_bytes_on_a_case_of_another_institution_are_accepted(
    technician: User, slide: Slide, other_hospital: Institution, data: bytes
) -> None:
    first = upload_slide_image(technician, slide, _file("a.png", data))
    elsewhere = MembershipFactory(institution=other_hospital, role=Role.TECHNICIAN).user
    other_slide = SlideFactory(case__patient=PatientFactory(institution=other_hospital))
    second = upload_slide_image(elsewhere, other_slide, _file("a.png", data))
    _assert_only([first, second])


def _page_messages(user: User, slide: Slide, files: list[SimpleUploadedFile]) -> list[tuple[str, str]]:
    url = reverse("cases:image_upload", args=[slide.external_id])
    response = client_for(user).post(url, {"images": files})
    assert response.status_code == 302
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_page_reports_the_duplicate_and_keeps_the_first(technician: User, slide: Slide, data: bytes) -> None:
    assert _page_messages(technician, slide, [_file("original.png", data)]) == [
        ("success", "1 image uploaded.")
    ]
    messages = _page_messages(technician, slide, [_file("again.png", data)])
    assert len(messages) == 1
    level, text = messages[0]
    assert level == "error"
    assert "“original.png”" in text
    _assert_only(list(SlideImage.objects.filter(original_filename="original.png")))


def test_the_same_file_twice_in_one_request_is_stored_once(
    technician: User, slide: Slide, data: bytes
) -> None:
    messages = _page_messages(technician, slide, [_file("one.png", data), _file("two.png", data)])
    assert ("success", "1 image uploaded.") in messages
    errors = [text for level, text in messages if level == "error"]
    assert len(errors) == 1
    assert "“one.png”" in errors[0]
    _assert_only([SlideImage.objects.get(original_filename="one.png")])


def test_the_database_refuses_a_duplicate_the_service_did_not_see(
    technician: User, slide: Slide, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two concurrent uploads both pass the "already there?" check; the unique constraint decides,
    # and the loser keeps nothing (no row, no file) and still gets the message naming the winner.
    first = upload_slide_image(technician, slide, _file("winner.png", data))
    real_filter = SlideImage.objects.filter
    calls: list[Any] = []

    def blind_first_check(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        queryset = real_filter(*args, **kwargs)
        return queryset.none() if len(calls) == 1 else queryset

    monkeypatch.setattr(SlideImage.objects, "filter", blind_first_check)
    with pytest.raises(UploadRejected, match=r"“winner\.png”"):
        upload_slide_image(technician, slide, _file("loser.png", data))
    monkeypatch.undo()
    assert len(calls) == 2, "the constraint path was not taken"
    _assert_only([first])
