"""The permission matrix: which role may do which action in its own institution.

Kept as data in one place; the checks (`can`) and a parametrised test of every cell read it.
Nobody may act in an institution they are not a member of: such rows are invisible (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

from accounts.models import Institution, Membership, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import QuerySet

    from accounts.models import User


class Action(models.TextChoices):
    VIEW_PATIENT = "view_patient", "View patients"
    CREATE_PATIENT = "create_patient", "Register and edit patients"
    VIEW_CASE = "view_case", "View cases"
    CREATE_CASE = "create_case", "Create and edit cases and slides"
    UPLOAD_IMAGE = "upload_image", "Upload smear images"
    SUBMIT_CASE = "submit_case", "Submit cases for analysis"
    CANCEL_CASE = "cancel_case", "Cancel cases"
    REVIEW_CASE = "review_case", "Review and correct AI results"
    SIGN_OUT_CASE = "sign_out_case", "Sign out and amend cases"
    VIEW_AUDIT = "view_audit", "Read the audit trail"
    MANAGE_MEMBERS = "manage_members", "Manage users and memberships"


_DATA_ENTRY = {
    Action.VIEW_PATIENT,
    Action.CREATE_PATIENT,
    Action.VIEW_CASE,
    Action.CREATE_CASE,
    Action.UPLOAD_IMAGE,
    Action.SUBMIT_CASE,
}

PERMISSION_MATRIX: dict[str, frozenset[str]] = {
    Role.TECHNICIAN: frozenset(_DATA_ENTRY | {Action.CANCEL_CASE}),
    Role.PATHOLOGIST: frozenset(
        {Action.VIEW_PATIENT, Action.VIEW_CASE, Action.REVIEW_CASE, Action.SIGN_OUT_CASE, Action.CANCEL_CASE}
    ),
    Role.SUPERVISOR: frozenset(Action.values),
    # Integration engines register data and read results over the API; they never sign anything.
    Role.INTEGRATION: frozenset(_DATA_ENTRY),
}

# Roles that may use the server-rendered pages; integration accounts are API-only.
WEB_ROLES = frozenset({Role.TECHNICIAN, Role.PATHOLOGIST, Role.SUPERVISOR})


def role_allows(role: str, action: str) -> bool:
    return action in PERMISSION_MATRIX.get(role, frozenset())


def active_memberships(user: User | AnonymousUser) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user, is_active=True, institution__is_active=True)


def roles_in(user: User | AnonymousUser, institution: Institution) -> set[str]:
    return set(active_memberships(user).filter(institution=institution).values_list("role", flat=True))


def can(user: User | AnonymousUser, action: str, institution: Institution) -> bool:
    return any(role_allows(role, action) for role in roles_in(user, institution))


def visible_institutions(user: User | AnonymousUser) -> QuerySet[Institution]:
    """Institutions whose rows the user may see at all (any active membership)."""
    return Institution.objects.filter(pk__in=active_memberships(user).values("institution"))


def institutions_allowing(user: User | AnonymousUser, action: str) -> QuerySet[Institution]:
    roles = [role for role, actions in PERMISSION_MATRIX.items() if action in actions]
    return Institution.objects.filter(
        pk__in=active_memberships(user).filter(role__in=roles).values("institution")
    )


def has_web_access(user: User | AnonymousUser) -> bool:
    return active_memberships(user).filter(role__in=WEB_ROLES).exists()
