"""Every legal move of the case state machine succeeds and is recorded; every other pair is refused."""

from __future__ import annotations

import itertools

import pytest

from accounts.models import User
from cases.models import AuditEvent, Case, CaseState, CaseTransition
from cases.transitions import TRANSITIONS, TransitionError, transition
from tests.factories import CaseFactory

LEGAL = sorted(TRANSITIONS)
ILLEGAL = sorted(set(itertools.product(CaseState.values, CaseState.values)) - set(TRANSITIONS))


def _case_in(state: str, patient_institution: object) -> Case:
    case: Case = CaseFactory(patient__institution=patient_institution)
    Case.objects.filter(pk=case.pk).update(state=state)
    case.refresh_from_db()
    return case


def test_the_machine_has_the_documented_shape() -> None:
    # draft → submitted → analysing → awaiting review → in review → signed out, plus amended and cancelled.
    happy_path = ["draft", "submitted", "analysing", "awaiting_review", "in_review", "signed_out", "amended"]
    for frm, to in itertools.pairwise(happy_path):
        assert (frm, to) in TRANSITIONS
    assert not [frm for frm, _ in TRANSITIONS if frm == CaseState.CANCELLED]


@pytest.mark.django_db
@pytest.mark.parametrize(("frm", "to"), LEGAL)
def test_legal_move_is_made_and_recorded(frm: str, to: str, supervisor: User) -> None:
    case = _case_in(frm, supervisor.memberships.get().institution)
    move = TRANSITIONS[(frm, to)]
    actor = supervisor if move.action else None
    row = transition(case, to, actor=actor, reason="Because the test says so")

    case.refresh_from_db()
    assert case.state == to
    assert (row.from_state, row.to_state, row.actor) == (frm, to, actor)
    assert row.reason == "Because the test says so"
    assert row.created_at is not None
    event = AuditEvent.objects.get(action="transition", target_id=str(case.external_id))
    assert event.before == {"state": frm}
    assert event.after["state"] == to


@pytest.mark.django_db
@pytest.mark.parametrize(("frm", "to"), ILLEGAL)
def test_illegal_move_is_refused_and_nothing_changes(frm: str, to: str, supervisor: User) -> None:
    case = _case_in(frm, supervisor.memberships.get().institution)
    with pytest.raises(TransitionError, match="cannot move"):
        transition(case, to, actor=supervisor, reason="trying")
    case.refresh_from_db()
    assert case.state == frm
    assert not CaseTransition.objects.filter(case=case).exists()
    assert not AuditEvent.objects.filter(action="transition").exists()


@pytest.mark.django_db
def test_worker_only_moves_refuse_people(supervisor: User) -> None:
    case = _case_in(CaseState.SUBMITTED, supervisor.memberships.get().institution)
    with pytest.raises(TransitionError, match="Only the analysis worker"):
        transition(case, CaseState.ANALYSING, actor=supervisor)


@pytest.mark.django_db
def test_people_moves_refuse_the_system(supervisor: User) -> None:
    case = _case_in(CaseState.IN_REVIEW, supervisor.memberships.get().institution)
    with pytest.raises(TransitionError, match="does not allow"):
        transition(case, CaseState.SIGNED_OUT, actor=None)


@pytest.mark.django_db
@pytest.mark.parametrize(("frm", "to"), [key for key, move in TRANSITIONS.items() if move.needs_reason])
def test_moves_that_need_a_reason_refuse_a_blank_one(frm: str, to: str, supervisor: User) -> None:
    case = _case_in(frm, supervisor.memberships.get().institution)
    actor = supervisor if TRANSITIONS[(frm, to)].action else None
    with pytest.raises(TransitionError, match="needs a reason"):
        transition(case, to, actor=actor, reason="   ")
    case.refresh_from_db()
    assert case.state == frm


@pytest.mark.django_db
def test_unknown_state_is_refused(supervisor: User) -> None:
    case = _case_in(CaseState.DRAFT, supervisor.memberships.get().institution)
    with pytest.raises(TransitionError, match="not a case state"):
        transition(case, "archived", actor=supervisor)


@pytest.mark.django_db
def test_a_stale_copy_cannot_repeat_a_move(supervisor: User) -> None:
    case = _case_in(CaseState.DRAFT, supervisor.memberships.get().institution)
    stale = Case.objects.get(pk=case.pk)
    transition(case, CaseState.SUBMITTED, actor=supervisor)
    # The second submit (a double click) is checked against the stored state, not the stale copy.
    with pytest.raises(TransitionError, match="cannot move from Submitted"):
        transition(stale, CaseState.SUBMITTED, actor=supervisor)
    assert CaseTransition.objects.filter(case=case).count() == 1


def test_every_move_a_person_makes_has_a_button_label() -> None:
    for key, move in TRANSITIONS.items():
        assert bool(move.verb) == (move.action is not None), key
