from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Institution
from marrowfind.models import BaseModel

from .patient import Patient
from .versioned import Versioned


class SpecimenType(models.TextChoices):
    BONE_MARROW = "bone_marrow_aspirate", "Bone-marrow aspirate"
    PERIPHERAL_BLOOD = "peripheral_blood", "Peripheral blood"


class CaseState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    ANALYSING = "analysing", "Analysing"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    IN_REVIEW = "in_review", "In review"
    SIGNED_OUT = "signed_out", "Signed out"
    AMENDED = "amended", "Amended"
    CANCELLED = "cancelled", "Cancelled"


class Case(Versioned, BaseModel):
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="cases")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cases")
    accession_number = models.CharField(max_length=64)
    specimen_type = models.CharField(max_length=30, choices=SpecimenType.choices)
    clinical_notes = models.TextField(blank=True)
    assigned_pathologist = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_cases",
    )
    # Changed only by cases.transitions.transition(), which records the move.
    state = models.CharField(
        max_length=20, choices=CaseState.choices, default=CaseState.DRAFT, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="created_cases",
        editable=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "accession_number"], name="unique_accession_per_institution"
            )
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.accession_number


class CaseTransition(BaseModel):
    """One move of a case's state machine; insert-only."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="transitions")
    from_state = models.CharField(max_length=20, choices=CaseState.choices)
    to_state = models.CharField(max_length=20, choices=CaseState.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    actor_label = models.CharField(max_length=200, help_text="Who moved it: a user, or a worker job.")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.case}: {self.from_state} → {self.to_state}"
