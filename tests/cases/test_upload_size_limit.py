"""The upload page stops taking in a file as soon as it passes UPLOAD_MAX_BYTES: the handlers that keep
uploads (in memory or in a temporary file) never get more than the limit of it, the person is told the
limit, and the other files of the same request are stored as usual. CSRF checks still apply."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from django.conf import global_settings
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.models import User
from cases.models import Slide, SlideImage

pytestmark = pytest.mark.django_db

LIMIT = 4096


class KeptBytes(FileUploadHandler):
    """Placed before Django's own handlers: counts the bytes of each file that reach them."""

    per_file: ClassVar[dict[str, int]] = {}

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        KeptBytes.per_file[str(self.file_name)] = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        KeptBytes.per_file[str(self.file_name)] += len(raw_data)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


@pytest.fixture(autouse=True)
def _small_limit_and_counted_bytes(settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = LIMIT
    settings.FILE_UPLOAD_HANDLERS = [
        f"{__name__}.KeptBytes",
        *global_settings.FILE_UPLOAD_HANDLERS,
    ]
    KeptBytes.per_file.clear()


def _small_png() -> bytes:
    pixels = np.random.default_rng(5).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < LIMIT
    return buffer.getvalue()


def _browser(user: User, slide: Slide) -> tuple[Client, dict[str, str]]:
    """A client that checks CSRF as a browser's requests are checked, and the token its page gave it."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(reverse("cases:case_detail", args=[slide.case.external_id])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    return client, {"csrfmiddlewaretoken": token.group(1)}


def test_a_file_over_the_limit_is_cut_off_while_it_is_read(technician: User, slide: Slide) -> None:
    client, token = _browser(technician, slide)
    files = [
        SimpleUploadedFile("huge.tif", b"\0" * (LIMIT * 40), content_type="image/tiff"),
        SimpleUploadedFile("small.png", _small_png(), content_type="image/png"),
    ]
    response = client.post(
        reverse("cases:image_upload", args=[slide.external_id]), {**token, "images": files}
    )

    assert KeptBytes.per_file["huge.tif"] <= LIMIT
    assert response.status_code == 302
    shown = [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]
    assert shown == [
        ("error", "“huge.tif” was refused: the limit is 4,096 bytes for one file."),
        ("success", "1 image uploaded."),
    ]
    assert [image.original_filename for image in SlideImage.objects.all()] == ["small.png"]


def test_a_request_of_only_files_over_the_limit_is_refused_with_the_limit(
    technician: User, slide: Slide
) -> None:
    client, token = _browser(technician, slide)
    files = [SimpleUploadedFile("huge.tif", b"\0" * (LIMIT + 1), content_type="image/tiff")]
    response = client.post(
        reverse("cases:image_upload", args=[slide.external_id]), {**token, "images": files}
    )

    assert KeptBytes.per_file["huge.tif"] <= LIMIT
    shown = [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]
    assert shown == [("error", "“huge.tif” was refused: the limit is 4,096 bytes for one file.")]
    assert not SlideImage.objects.exists()


def test_what_was_spooled_of_a_file_over_the_limit_is_removed(
    technician: User, slide: Slide, settings: Any, tmp_path: Path
) -> None:
    # A limit of several read chunks: the first of them reach a temporary file before the cut.
    settings.UPLOAD_MAX_BYTES = 200_000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.FILE_UPLOAD_TEMP_DIR = spool = tmp_path / "spool"
    spool.mkdir()
    client, token = _browser(technician, slide)
    files = [SimpleUploadedFile("huge.tif", b"\0" * 1_000_000, content_type="image/tiff")]
    client.post(reverse("cases:image_upload", args=[slide.external_id]), {**token, "images": files})

    assert 0 < KeptBytes.per_file["huge.tif"] <= 200_000
    assert list(spool.iterdir()) == []
    assert not SlideImage.objects.exists()


def test_an_upload_without_the_csrf_token_is_still_refused(technician: User, slide: Slide) -> None:
    client, _ = _browser(technician, slide)
    files = [SimpleUploadedFile("small.png", _small_png(), content_type="image/png")]
    response = client.post(reverse("cases:image_upload", args=[slide.external_id]), {"images": files})
    assert response.status_code == 403
    assert not SlideImage.objects.exists()
