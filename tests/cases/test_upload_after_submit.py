"""A slide or image added while a colleague submits the case: whichever of the two gets the case row
first wins. An addition that finds the case submitted is refused and leaves nothing: no row, no file,
no audit row. The image is decoded before the case is locked, so a slow decode never holds up others."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from accounts.models import Institution, Role, User
from cases.models import AuditEvent, Case, CaseState, Patient, Slide, SlideImage
from cases.models.audit import AuditAction
from cases.services import slides as slide_services
from cases.services.slides import UploadRejected, create_slide, upload_slide_image
from cases.transitions import transition
from tests.cases.concurrency import Worker, requires_postgresql, wait_until_blocked
from tests.factories import CaseFactory, MembershipFactory

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]


def _png() -> bytes:
    pixels = np.random.default_rng(3).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def colleague(hospital: Institution) -> User:
    user: User = MembershipFactory(institution=hospital, role=Role.TECHNICIAN).user
    return user


def test_an_image_that_finds_the_case_submitted_after_its_decode_is_refused_and_leaves_nothing(
    technician: User, colleague: User, slide: Slide, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = threading.Event()
    real_validate = slide_services.validate_image

    def validate_and_note(*args: Any, **kwargs: Any) -> Any:
        info = real_validate(*args, **kwargs)
        decoded.set()
        return info

    monkeypatch.setattr(slide_services, "validate_image", validate_and_note)
    upload = SimpleUploadedFile("late.png", _png(), content_type="image/png")

    with transaction.atomic():
        # The colleague's submit holds the case row while it commits.
        Case.objects.select_for_update().get(pk=slide.case.pk)
        adding = Worker(lambda: upload_slide_image(technician, slide, upload)).start()
        wait_until_blocked()
        assert decoded.is_set(), "the decode waited for the case lock"
        transition(slide.case, CaseState.SUBMITTED, actor=colleague)

    with pytest.raises(UploadRejected, match=r"only be added to a draft case; this case is Submitted"):
        adding.result()
    assert not SlideImage.objects.exists()
    media = Path(django_settings.MEDIA_ROOT)
    assert not [path for path in media.rglob("*") if path.is_file()]
    assert not AuditEvent.objects.filter(action=AuditAction.UPLOAD).exists()


def test_a_slide_that_finds_the_case_submitted_is_refused(
    technician: User, colleague: User, patient: Patient
) -> None:
    case: Case = CaseFactory(patient=patient)

    with transaction.atomic():
        Case.objects.select_for_update().get(pk=case.pk)
        adding = Worker(
            lambda: create_slide(technician, case, stain="giemsa", collected_at=timezone.now())
        ).start()
        wait_until_blocked()
        transition(case, CaseState.SUBMITTED, actor=colleague)

    with pytest.raises(ValidationError, match=r"Slides can only be added to a draft case"):
        adding.result()
    assert not Slide.objects.filter(case=case).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.CREATE, target_type="cases.Slide").exists()
