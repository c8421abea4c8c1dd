"""Every cell of the permission matrix (role x action x own/other institution), exercised through the
real services and access helpers, against the policy written out independently below."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404

from accounts.models import Institution, Role, User
from accounts.permissions import PERMISSION_MATRIX, Action, can
from cases import access
from cases.models import Case, CaseState, SpecimenType
from cases.services.cases import create_case
from cases.services.patients import create_patient
from cases.services.slides import upload_slide_image
from cases.transitions import TransitionError, transition
from tests.factories import CaseFactory, MembershipFactory, PatientFactory, SlideFactory
from tests.images import jpeg_bytes

# The policy, as the laboratory agreed it: Y = allowed in one's own institution.
POLICY = """
action          technician pathologist supervisor integration
view_patient    Y          Y           Y          Y
create_patient  Y          .           Y          Y
view_case       Y          Y           Y          Y
create_case     Y          .           Y          Y
upload_image    Y          .           Y          Y
submit_case     Y          .           Y          Y
cancel_case     Y          Y           Y          .
review_case     .          Y           Y          .
sign_out_case   .          Y           Y          .
view_audit      .          .           Y          .
manage_members  .          .           Y          .
"""


def _policy() -> dict[tuple[str, str], bool]:
    header, *rows = [line.split() for line in POLICY.strip().splitlines()]
    return {(role, row[0]): row[i + 1] == "Y" for row in rows for i, role in enumerate(header[1:])}


EXPECTED = _policy()


def _case_in(institution: Institution, state: str) -> Case:
    case: Case = CaseFactory(patient__institution=institution)
    Case.objects.filter(pk=case.pk).update(state=state)
    case.refresh_from_db()
    return case


def _transition_probe(state: str, to: str, reason: str = "") -> Callable[[User, Institution], Any]:
    return lambda user, inst: transition(_case_in(inst, state), to, actor=user, reason=reason)


PROBES: dict[str, Callable[[User, Institution], Any]] = {
    Action.VIEW_PATIENT: lambda user, inst: access.get_patient_for_user(
        user, PatientFactory(institution=inst).external_id
    ),
    Action.CREATE_PATIENT: lambda user, inst: create_patient(
        user,
        inst,
        medical_record_number="MRN-NEW",
        given_name="Ada",
        family_name="Lovelace",
        date_of_birth=dt.date(1990, 1, 1),
    ),
    Action.VIEW_CASE: lambda user, inst: access.get_case_for_user(
        user, CaseFactory(patient__institution=inst).external_id
    ),
    Action.CREATE_CASE: lambda user, inst: create_case(
        user,
        PatientFactory(institution=inst),
        accession_number="A-1",
        specimen_type=SpecimenType.PERIPHERAL_BLOOD,
    ),
    Action.UPLOAD_IMAGE: lambda user, inst: upload_slide_image(
        user, SlideFactory(case__patient__institution=inst), SimpleUploadedFile("a.jpg", jpeg_bytes())
    ),
    Action.SUBMIT_CASE: _transition_probe(CaseState.DRAFT, CaseState.SUBMITTED),
    Action.CANCEL_CASE: _transition_probe(CaseState.DRAFT, CaseState.CANCELLED, "Duplicate request"),
    Action.REVIEW_CASE: _transition_probe(CaseState.AWAITING_REVIEW, CaseState.IN_REVIEW),
    Action.SIGN_OUT_CASE: _transition_probe(CaseState.IN_REVIEW, CaseState.SIGNED_OUT),
    # Audit reading and membership management are admin capabilities: checked through `can`.
    Action.VIEW_AUDIT: lambda user, inst: None if can(user, Action.VIEW_AUDIT, inst) else _deny(),
    Action.MANAGE_MEMBERS: lambda user, inst: None if can(user, Action.MANAGE_MEMBERS, inst) else _deny(),
}


def _deny() -> None:
    raise PermissionDenied


def test_policy_table_covers_every_role_and_action() -> None:
    assert {role for role, _ in EXPECTED} == set(Role.values)
    assert {action for _, action in EXPECTED} == set(Action.values) == set(PROBES)
    assert {(r, a) for (r, a), ok in EXPECTED.items() if ok} == {
        (r, a) for r, actions in PERMISSION_MATRIX.items() for a in actions
    }


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["own", "other"])
@pytest.mark.parametrize("action", Action.values)
@pytest.mark.parametrize("role", Role.values)
def test_matrix_cell(
    role: str, action: str, where: str, hospital: Institution, other_hospital: Institution
) -> None:
    user = MembershipFactory(institution=hospital, role=role).user
    target = hospital if where == "own" else other_hospital
    allowed = EXPECTED[(role, action)] and where == "own"
    if allowed:
        PROBES[action](user, target)
    else:
        with pytest.raises((PermissionDenied, Http404, TransitionError)):
            PROBES[action](user, target)


@pytest.mark.django_db
def test_inactive_membership_allows_nothing(hospital: Institution) -> None:
    membership = MembershipFactory(institution=hospital, role=Role.SUPERVISOR, is_active=False)
    assert not any(can(membership.user, action, hospital) for action in Action.values)
