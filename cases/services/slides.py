from __future__ import annotations

import hashlib
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils.formats import date_format

from accounts.permissions import Action
from cases.audit import record_event, snapshot
from cases.models import Case, CaseState, Slide, SlideImage
from cases.models.audit import AuditAction
from cases.services.common import require, save_new
from inference.engine.errors import ImageError
from inference.engine.imageio import validate_image

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.core.files.uploadedfile import UploadedFile

    from accounts.models import User

# Images are added while a case is being prepared; after submission the analysed set is fixed.
UPLOAD_STATES = {CaseState.DRAFT}


class UploadRejected(Exception):
    """An upload refused before anything of it was stored; the message is shown to the user."""


def create_slide(actor: User | AnonymousUser, case: Case, **fields: Any) -> Slide:
    with transaction.atomic():
        # Under the case's row lock: a submit that committed first refuses the slide, and one that
        # comes later waits until the slide is in.
        locked = Case.objects.select_for_update().get(pk=case.pk)
        require(actor, Action.CREATE_CASE, locked.institution)
        if locked.state not in UPLOAD_STATES:
            raise ValidationError("Slides can only be added to a draft case.")
        slide = Slide(case=locked, **fields)
        save_new(actor, slide, institution=locked.institution, case=locked)
    return slide


def _read_bounded(uploaded: UploadedFile) -> bytes:
    limit = settings.UPLOAD_MAX_BYTES
    if uploaded.size is not None and uploaded.size > limit:
        raise UploadRejected(f"The file is {uploaded.size:,} bytes; the limit is {limit:,} bytes.")
    data = bytearray()
    for chunk in uploaded.chunks():
        data.extend(chunk)
        if len(data) > limit:
            raise UploadRejected(f"The file is larger than the limit of {limit:,} bytes.")
    return bytes(data)


def _refuse_unless_open(case: Case) -> None:
    if case.state not in UPLOAD_STATES:
        raise UploadRejected(
            f"Images can only be added to a draft case; this case is {case.get_state_display()}."
        )


def _duplicate_message(earlier: SlideImage) -> str:
    return (
        f"This file was already uploaded to this case as “{earlier.original_filename}” "
        f"by {earlier.uploaded_by} on {date_format(earlier.created_at, 'DATETIME_FORMAT')}."
    )


def upload_slide_image(actor: User | AnonymousUser, slide: Slide, uploaded: UploadedFile) -> SlideImage:
    """Validate by content, refuse duplicates on the case, then store byte for byte and audit."""
    case = slide.case
    require(actor, Action.UPLOAD_IMAGE, case.institution)
    _refuse_unless_open(case)  # early, before the file is read and decoded
    data = _read_bounded(uploaded)
    original_name = PurePath(uploaded.name or "upload").name[:255]
    try:
        info = validate_image(
            data, max_pixels=settings.UPLOAD_MAX_PIXELS, max_bytes=settings.UPLOAD_MAX_BYTES
        )
    except ImageError as exc:
        raise UploadRejected(f"“{original_name}” was refused: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    earlier = SlideImage.objects.filter(case=case, sha256=digest).select_related("uploaded_by").first()
    if earlier is not None:
        raise UploadRejected(_duplicate_message(earlier))

    image = SlideImage(
        slide=slide,
        case=case,
        original_filename=original_name,
        mime_type=info.mime_type,
        sha256=digest,
        size_bytes=len(data),
        width=info.width,
        height=info.height,
        uploaded_by=cast("User", actor),  # require() above admits members only
    )
    image.file.save(original_name, ContentFile(data), save=False)
    try:
        with transaction.atomic():
            # Checked again under the case's row lock, after the slow decode (which holds no lock):
            # a submit that committed meanwhile refuses the image, one that comes now waits for it.
            _refuse_unless_open(Case.objects.select_for_update().get(pk=case.pk))
            image.save(force_insert=True)
            record_event(
                actor=actor,
                action=AuditAction.UPLOAD,
                target=image,
                institution=case.institution,
                case_external_id=case.external_id,
                after=snapshot(image),
            )
    except IntegrityError:
        # A concurrent upload of the same file won the race; keep nothing of ours.
        image.file.delete(save=False)
        earlier = SlideImage.objects.filter(case=case, sha256=digest).first()
        raise UploadRejected(_duplicate_message(earlier) if earlier else "This upload conflicted.") from None
    except BaseException:
        image.file.delete(save=False)
        raise
    return image
