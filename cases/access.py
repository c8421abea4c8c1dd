"""Fetching rows for a user: one family of helpers used by pages and the API alike.

A row of an institution the user is not a member of does not exist for them (404); a row they can
see but may not act on with their role is 403.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from accounts.permissions import Action, can, visible_institutions
from cases.audit import record_event
from cases.models import Case, Patient, Slide, SlideImage
from cases.models.audit import AuditAction

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

M = TypeVar("M", bound=Model)


def _parse(external_id: Any) -> uuid.UUID:
    try:
        return external_id if isinstance(external_id, uuid.UUID) else uuid.UUID(str(external_id))
    except ValueError:
        raise Http404("No such record.") from None


def _fetch(
    queryset: QuerySet[M], institution_path: str, user: User | AnonymousUser, external_id: Any, action: str
) -> M:
    visible = queryset.filter(**{f"{institution_path}__in": visible_institutions(user)})
    try:
        row = visible.get(external_id=_parse(external_id))
    except queryset.model.DoesNotExist:  # type: ignore[attr-defined]
        raise Http404("No such record.") from None
    institution: Any = _follow(row, institution_path)
    if not can(user, action, institution):
        raise PermissionDenied("Your role does not allow this.")
    return row


def _follow(row: Model, path: str) -> Any:
    for part in path.split("__"):
        row = getattr(row, part)
    return row


def patients_for(user: User | AnonymousUser) -> QuerySet[Patient]:
    return Patient.objects.filter(institution__in=visible_institutions(user)).select_related("institution")


def cases_for(user: User | AnonymousUser) -> QuerySet[Case]:
    return Case.objects.filter(institution__in=visible_institutions(user)).select_related(
        "institution", "patient", "assigned_pathologist"
    )


def get_patient_for_user(
    user: User | AnonymousUser, external_id: Any, action: str = Action.VIEW_PATIENT
) -> Patient:
    return _fetch(Patient.objects.select_related("institution"), "institution", user, external_id, action)


def get_case_for_user(user: User | AnonymousUser, external_id: Any, action: str = Action.VIEW_CASE) -> Case:
    queryset = Case.objects.select_related("institution", "patient", "assigned_pathologist")
    return _fetch(queryset, "institution", user, external_id, action)


def get_slide_for_user(user: User | AnonymousUser, external_id: Any, action: str = Action.VIEW_CASE) -> Slide:
    queryset = Slide.objects.select_related("case__institution", "case__patient")
    return _fetch(queryset, "case__institution", user, external_id, action)


def get_image_for_user(
    user: User | AnonymousUser, external_id: Any, action: str = Action.VIEW_CASE
) -> SlideImage:
    queryset = SlideImage.objects.select_related("case__institution", "slide", "uploaded_by")
    return _fetch(queryset, "case__institution", user, external_id, action)


def log_view(user: User | AnonymousUser, row: Patient | Case) -> None:
    """The access log: every view of a patient or a case is an audit row."""
    case_id = row.external_id if isinstance(row, Case) else None
    record_event(
        actor=user, action=AuditAction.VIEW, target=row, institution=row.institution, case_external_id=case_id
    )


def require_action(user: User | AnonymousUser, action: str, row: Patient | Case) -> None:
    if not can(user, action, row.institution):
        raise PermissionDenied("Your role does not allow this.")
