"""An upload is validated by content before anything is stored: a good image is kept byte for byte with
its hash, size and type and an audit row; a bad one is refused with a message that says why, and leaves
no row, no file and no upload audit row. Checked through the service and through the upload page.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import InMemoryUploadedFile, SimpleUploadedFile
from django.http import HttpResponse
from django.urls import reverse
from PIL import Image

from accounts.models import User
from cases.models import AuditEvent, CaseState, Slide, SlideImage
from cases.models.audit import AuditAction
from cases.services.slides import UploadRejected, upload_slide_image
from cases.transitions import transition
from tests.conftest import client_for

WIDTH, HEIGHT = 64, 48


# ---- test images -------------------------------------------------------------------------------


def _encode(fmt: str, seed: int = 0, size: tuple[int, int] = (WIDTH, HEIGHT), **options: Any) -> bytes:
    # Noise, so every seed gives other bytes and cutting a file in half cuts pixel data.
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    if fmt == "GIF":
        image = image.convert("P")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def jpeg(seed: int = 0) -> bytes:
    return _encode("JPEG", seed, quality=92)


def png(seed: int = 0) -> bytes:
    return _encode("PNG", seed)


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    # The declared content type is deliberately uninformative: validation goes by content.
    return SimpleUploadedFile(name, data, content_type=content_type)


# ---- what was stored ---------------------------------------------------------------------------


def _files_on_disk() -> list[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _upload_events() -> Any:
    return AuditEvent.objects.filter(action=AuditAction.UPLOAD)


def _assert_nothing_stored() -> None:
    assert SlideImage.objects.count() == 0
    assert _files_on_disk() == []
    assert _upload_events().count() == 0


def _assert_stored_exactly(image: SlideImage, data: bytes, name: str, mime: str, user: User) -> None:
    image.refresh_from_db()
    with image.file.open("rb") as handle:
        assert handle.read() == data
    on_disk = Path(image.file.path)
    assert on_disk.is_relative_to(Path(django_settings.MEDIA_ROOT))
    assert on_disk.read_bytes() == data
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert image.size_bytes == len(data)
    assert (image.width, image.height) == (WIDTH, HEIGHT)
    assert image.mime_type == mime
    assert image.original_filename == name
    assert image.uploaded_by == user
    # Stored under its content hash, never under the name the user's computer gave it.
    assert on_disk.stem == image.sha256
    event = _upload_events().get(target_id=str(image.external_id))
    assert event.actor == user
    assert event.case_external_id == image.case.external_id
    assert event.institution == image.case.institution
    assert event.after["sha256"] == image.sha256


def _messages(response: HttpResponse) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def _post_page(user: User, slide: Slide, files: list[SimpleUploadedFile]) -> HttpResponse:
    response = client_for(user).post(
        reverse("cases:image_upload", args=[slide.external_id]), {"images": files}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:case_detail", args=[slide.case.external_id])
    return response


# ---- accepted ----------------------------------------------------------------------------------

GOOD = [
    pytest.param("smear-001.jpg", jpeg, "image/jpeg", id="jpeg"),
    pytest.param("smear-001.png", png, "image/png", id="png"),
]


@pytest.mark.parametrize(("name", "make", "mime"), GOOD)
def test_service_stores_a_valid_image_byte_for_byte(
    technician: User, slide: Slide, name: str, make: Callable[[], bytes], mime: str
) -> None:
    data = make()
    image = upload_slide_image(technician, slide, _upload(name, data))
    assert image.slide == slide
    assert image.case == slide.case
    _assert_stored_exactly(image, data, name, mime, technician)
    assert _files_on_disk() == [Path(image.file.path)]


@pytest.mark.parametrize(("name", "make", "mime"), GOOD)
def test_page_stores_a_valid_image_byte_for_byte(
    technician: User, slide: Slide, name: str, make: Callable[[], bytes], mime: str
) -> None:
    data = make()
    response = _post_page(technician, slide, [_upload(name, data)])
    assert _messages(response) == [("success", "1 image uploaded.")]
    image = SlideImage.objects.get()
    assert image.slide == slide
    _assert_stored_exactly(image, data, name, mime, technician)
    assert _upload_events().get().source == "web"


def test_a_photo_turned_by_its_exif_orientation_stores_its_upright_size(
    technician: User, slide: Slide
) -> None:
    # A phone on the eyepiece writes the sensor's pixels and an orientation; browsers show it turned.
    picture = Image.fromarray(np.random.default_rng(5).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    exif = picture.getexif()
    exif[0x0112] = 6  # turned a quarter clockwise
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=92, exif=exif.tobytes())
    data = buffer.getvalue()
    image = upload_slide_image(technician, slide, _upload("phone.jpg", data))
    image.refresh_from_db()
    assert (image.width, image.height) == (HEIGHT, WIDTH)
    with image.file.open("rb") as handle:
        assert handle.read() == data  # the file itself is kept as it came


def test_a_path_in_the_file_name_is_dropped(technician: User, slide: Slide) -> None:
    data = png()
    image = upload_slide_image(technician, slide, _upload("../../etc/smear.png", data))
    assert image.original_filename == "smear.png"
    assert Path(image.file.path).is_relative_to(Path(django_settings.MEDIA_ROOT))


# ---- refused -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    name: str
    make: Callable[[], bytes]
    message: str  # a regular expression the refusal must match
    settings: dict[str, int] = field(default_factory=dict)


BAD = [
    pytest.param(Bad("empty.jpg", lambda: b"", r"empty"), id="empty"),
    pytest.param(
        Bad(
            "notes.jpg",
            lambda: b"MRN 000123, smear taken 08:40\n" * 20,
            r"“notes\.jpg”.*not a readable image",
        ),
        id="text-named-jpg",
    ),
    pytest.param(
        Bad("cut.jpg", lambda: _half(jpeg()), r"“cut\.jpg”.*JPEG file is truncated"), id="truncated-jpeg"
    ),
    pytest.param(
        Bad("cut.png", lambda: _half(png()), r"“cut\.png”.*PNG file is truncated"), id="truncated-png"
    ),
    pytest.param(
        Bad("anim.gif", lambda: _encode("GIF"), r"GIF images are not accepted; use JPEG, PNG, TIFF or BMP"),
        id="gif",
    ),
    pytest.param(
        Bad(
            "huge.png", png, r"64x48 \(3,072 pixels\); the limit is 3,071 pixels", {"UPLOAD_MAX_PIXELS": 3071}
        ),
        id="too-many-pixels",
    ),
    pytest.param(
        Bad("big.png", png, r"the limit is 1,024 bytes", {"UPLOAD_MAX_BYTES": 1024}), id="too-many-bytes"
    ),
]


@pytest.mark.parametrize("bad", BAD)
def test_service_refuses_with_a_specific_message_and_stores_nothing(
    technician: User, slide: Slide, settings: Any, bad: Bad
) -> None:
    for name, value in bad.settings.items():
        setattr(settings, name, value)
    with pytest.raises(UploadRejected, match=bad.message):
        upload_slide_image(technician, slide, _upload(bad.name, bad.make()))
    _assert_nothing_stored()


@pytest.mark.parametrize("bad", BAD)
def test_page_refuses_with_a_specific_message_and_stores_nothing(
    technician: User, slide: Slide, settings: Any, bad: Bad
) -> None:
    for name, value in bad.settings.items():
        setattr(settings, name, value)
    response = _post_page(technician, slide, [_upload(bad.name, bad.make())])
    messages = _messages(response)
    assert len(messages) == 1
    level, text = messages[0]
    assert level == "error"
    assert re.search(bad.message, text), text
    _assert_nothing_stored()


def test_limits_hold_exactly_at_the_boundary(technician: User, slide: Slide, settings: Any) -> None:
    data = png()
    settings.UPLOAD_MAX_BYTES = len(data)
    settings.UPLOAD_MAX_PIXELS = WIDTH * HEIGHT
    image = upload_slide_image(technician, slide, _upload("exact.png", data))
    _assert_stored_exactly(image, data, "exact.png", "image/png", technician)


def test_byte_limit_holds_when_the_size_is_not_declared(
    technician: User, slide: Slide, settings: Any
) -> None:
    # A streamed upload may not say its size up front; the limit is then enforced while reading.
    settings.UPLOAD_MAX_BYTES = 1024
    data = png()
    uploaded = InMemoryUploadedFile(io.BytesIO(data), "images", "stream.png", "image/png", None, None)
    assert uploaded.size is None
    with pytest.raises(UploadRejected, match=r"larger than the limit of 1,024 bytes"):
        upload_slide_image(technician, slide, uploaded)
    _assert_nothing_stored()


def test_upload_to_a_case_that_is_not_draft_is_refused(technician: User, slide: Slide) -> None:
    transition(slide.case, CaseState.SUBMITTED, actor=technician)
    with pytest.raises(UploadRejected, match=r"only be added to a draft case; this case is Submitted"):
        upload_slide_image(technician, slide, _upload("late.png", png()))
    _assert_nothing_stored()

    response = _post_page(technician, slide, [_upload("late.png", png())])
    assert _messages(response) == [
        ("error", "Images can only be added to a draft case; this case is Submitted.")
    ]
    _assert_nothing_stored()


def test_page_without_a_file_says_so(technician: User, slide: Slide) -> None:
    response = _post_page(technician, slide, [])
    assert _messages(response) == [("error", "Choose at least one image.")]
    _assert_nothing_stored()


# ---- several files in one request --------------------------------------------------------------


def test_several_files_good_ones_stored_bad_ones_reported(technician: User, slide: Slide) -> None:
    good = {"a.jpg": (jpeg(1), "image/jpeg"), "c.png": (png(3), "image/png")}
    files = [
        _upload("a.jpg", good["a.jpg"][0]),
        _upload("b.jpg", b"this is not an image"),
        _upload("c.png", good["c.png"][0]),
        _upload("d.png", _half(png(4))),
        _upload("e.gif", _encode("GIF", 5)),
    ]
    response = _post_page(technician, slide, files)

    messages = _messages(response)
    errors = [text for level, text in messages if level == "error"]
    assert len(errors) == 3
    assert "“b.jpg”" in errors[0]
    assert "not a readable image" in errors[0]
    assert "“d.png”" in errors[1]
    assert "truncated" in errors[1]
    assert "“e.gif”" in errors[2]
    assert "GIF" in errors[2]
    assert ("success", "2 images uploaded.") in messages

    images = {image.original_filename: image for image in SlideImage.objects.all()}
    assert set(images) == set(good)
    for name, (data, mime) in good.items():
        _assert_stored_exactly(images[name], data, name, mime, technician)
    # Nothing half-stored: exactly one file per row, and one upload audit row per row.
    assert _files_on_disk() == sorted(Path(image.file.path) for image in images.values())
    assert _upload_events().count() == 2


def test_a_failure_after_the_file_is_written_leaves_nothing(
    technician: User, slide: Slide, monkeypatch: pytest.MonkeyPatch
) -> None:
    # If the audit write fails, the row rolls back and the file written just before is removed.
    def broken_audit(**kwargs: Any) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr("cases.services.slides.record_event", broken_audit)
    with pytest.raises(RuntimeError, match="audit store unavailable"):
        upload_slide_image(technician, slide, _upload("smear.png", png()))
    _assert_nothing_stored()
