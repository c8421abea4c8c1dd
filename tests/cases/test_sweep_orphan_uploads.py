"""A file left by an upload killed before its row committed is found and removed; stored images and
fresh files are kept."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from accounts.models import User
from cases.models import Slide
from cases.services.slides import upload_slide_image
from tests.images import jpeg_bytes


@pytest.mark.django_db
def test_orphans_are_listed_then_removed(
    technician: User, slide: Slide, capsys: pytest.CaptureFixture[str]
) -> None:
    image = upload_slide_image(technician, slide, SimpleUploadedFile("kept.jpg", jpeg_bytes(1)))
    kept = Path(image.file.path)
    orphan = kept.parent / "left-by-a-killed-upload.jpg"
    orphan.write_bytes(jpeg_bytes(2))
    fresh = kept.parent / "committing-right-now.jpg"
    fresh.write_bytes(jpeg_bytes(3))
    an_hour_ago = time.time() - 7200
    for path in (kept, orphan):
        os.utime(path, (an_hour_ago, an_hour_ago))

    call_command("sweep_orphan_uploads", "--json")
    listed = json.loads(capsys.readouterr().out)
    expected = orphan.relative_to(settings.MEDIA_ROOT).as_posix()
    assert listed == {"orphans": [expected], "deleted": False}
    assert orphan.exists()

    call_command("sweep_orphan_uploads", "--delete")
    assert not orphan.exists()
    assert kept.exists()
    assert fresh.exists()
