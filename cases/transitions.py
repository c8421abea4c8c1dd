"""The case state machine: the only way a case changes state.

Legal moves, and the action a person needs for each, are data; `transition` refuses anything else
with a `TransitionError` and records from, to, actor, reason and time (a CaseTransition row and an
audit event) in the same transaction as the move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction

from accounts.permissions import Action, can
from cases.audit import record_event
from cases.audit.context import current_context
from cases.models import Case, CaseState, CaseTransition
from cases.models.audit import AuditAction

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

S = CaseState


@dataclass(frozen=True)
class Move:
    action: str | None  # the permission a person needs; None: only the system (a worker) moves it
    needs_reason: bool = False
    verb: str = ""  # what the button says, for moves people make


TRANSITIONS: dict[tuple[str, str], Move] = {
    (S.DRAFT, S.SUBMITTED): Move(Action.SUBMIT_CASE, verb="Submit for analysis"),
    (S.DRAFT, S.CANCELLED): Move(Action.CANCEL_CASE, needs_reason=True, verb="Cancel case"),
    (S.SUBMITTED, S.ANALYSING): Move(None),
    (S.SUBMITTED, S.CANCELLED): Move(Action.CANCEL_CASE, needs_reason=True, verb="Cancel case"),
    (S.ANALYSING, S.AWAITING_REVIEW): Move(None),
    # An analysis that failed for good sends the case back so it can be fixed and resubmitted.
    (S.ANALYSING, S.SUBMITTED): Move(None, needs_reason=True),
    (S.AWAITING_REVIEW, S.IN_REVIEW): Move(Action.REVIEW_CASE, verb="Start review"),
    (S.AWAITING_REVIEW, S.CANCELLED): Move(Action.CANCEL_CASE, needs_reason=True, verb="Cancel case"),
    (S.IN_REVIEW, S.AWAITING_REVIEW): Move(Action.REVIEW_CASE, needs_reason=True, verb="Release review"),
    (S.IN_REVIEW, S.SIGNED_OUT): Move(Action.SIGN_OUT_CASE, verb="Sign out"),
    (S.SIGNED_OUT, S.AMENDED): Move(Action.SIGN_OUT_CASE, needs_reason=True, verb="Amend"),
    (S.AMENDED, S.SIGNED_OUT): Move(Action.SIGN_OUT_CASE, verb="Sign out the amendment"),
}


class TransitionError(Exception):
    """A move the state machine or the actor's role does not allow."""


def allowed_targets(case: Case) -> list[str]:
    return [to for (frm, to) in TRANSITIONS if frm == case.state]


def transition(
    case: Case, to_state: str, *, actor: User | AnonymousUser | None, reason: str = ""
) -> CaseTransition:
    """Move `case` to `to_state`. `actor=None` means the system (a worker job)."""
    reason = reason.strip()
    with transaction.atomic():
        # Re-read under a row lock so two concurrent moves cannot both start from the same state.
        locked = Case.objects.select_for_update().get(pk=case.pk)
        from_state = locked.state
        move = TRANSITIONS.get((from_state, to_state))
        if move is None:
            raise TransitionError(
                f"A case cannot move from {S(from_state).label} to {S(to_state).label}."
                if to_state in S.values
                else f"{to_state!r} is not a case state."
            )
        if move.action is None and actor is not None:
            raise TransitionError(f"Only the analysis worker moves a case to {S(to_state).label}.")
        if move.action is not None and (actor is None or not can(actor, move.action, locked.institution)):
            raise TransitionError(f"Your role does not allow moving a case to {S(to_state).label}.")
        if move.needs_reason and not reason:
            raise TransitionError(f"Moving a case to {S(to_state).label} needs a reason.")
        locked.state = to_state
        locked.save(update_fields=["state", "updated_at"])
        user = actor if actor is not None and actor.is_authenticated else None
        row = CaseTransition.objects.create(
            case=locked,
            from_state=from_state,
            to_state=to_state,
            actor=user,
            actor_label=(user.email if user else current_context().actor_label or "system"),
            reason=reason,
        )
        record_event(
            actor=actor,
            action=AuditAction.TRANSITION,
            target=locked,
            institution=locked.institution,
            case_external_id=locked.external_id,
            before={"state": from_state},
            after={"state": to_state, "reason": reason},
        )
    case.state = to_state
    return row
