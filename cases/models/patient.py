from __future__ import annotations

from django.db import models

from accounts.models import Institution
from marrowfind.models import BaseModel

from .versioned import Versioned


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class Patient(Versioned, BaseModel):
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="patients")
    medical_record_number = models.CharField("medical record number", max_length=64)
    given_name = models.CharField(max_length=120)
    family_name = models.CharField(max_length=120)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "medical_record_number"], name="unique_mrn_per_institution"
            )
        ]
        ordering = ["family_name", "given_name"]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.medical_record_number})"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"
