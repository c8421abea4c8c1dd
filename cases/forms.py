from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import AnonymousUser

from accounts.models import Role, User
from accounts.permissions import Action, institutions_allowing
from cases.access import patients_for
from cases.models import Case, Patient, Slide
from cases.services.common import DUPLICATE_ACCESSION, DUPLICATE_MRN


def _choose_by_external_id(form: forms.BaseForm) -> None:
    """Choices are keyed by external id: integer primary keys never leave the server."""
    for field in form.fields.values():
        if isinstance(field, forms.ModelChoiceField):
            field.to_field_name = "external_id"


class _InstitutionChoiceMixin(forms.Form):
    """Users who belong to several institutions pick one; for everyone else it is implied."""

    institution_action: str = ""

    def _limit_institutions(self, user: User | AnonymousUser) -> None:
        field = self.fields["institution"]
        queryset = institutions_allowing(user, self.institution_action)
        field.queryset = queryset  # type: ignore[attr-defined]
        if queryset.count() == 1:
            field.initial = queryset.first()
            field.widget = forms.HiddenInput()


class SeenVersionField(forms.IntegerField):
    """The `row_version` an edit form was opened at, sent back with it (hidden)."""

    widget = forms.HiddenInput

    def has_changed(self, initial: Any, data: Any) -> bool:
        return False  # what the editor saw, never a change of the row (nor of its change message)


class SeenVersionForm(forms.ModelForm):
    """The edit form of a versioned row (a patient, a case): the service it goes to refuses the save
    when the row was changed since the form was opened (cases/services/row_versions.py)."""

    seen_version = SeenVersionField(min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            del self.fields["seen_version"]  # a new row: nobody can have changed it yet
        else:
            self.fields["seen_version"].initial = self.instance.row_version


class PatientForm(_InstitutionChoiceMixin, forms.ModelForm):
    institution_action = Action.CREATE_PATIENT

    class Meta:
        model = Patient
        fields = ["institution", "medical_record_number", "given_name", "family_name", "date_of_birth", "sex"]
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args: Any, user: User | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choose_by_external_id(self)
        self._limit_institutions(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        institution, mrn = data.get("institution"), data.get("medical_record_number")
        if (
            institution
            and mrn
            and Patient.objects.filter(institution=institution, medical_record_number=mrn).exists()
        ):
            self.add_error("medical_record_number", DUPLICATE_MRN)
        return data

    def validate_unique(self) -> None:
        # Uniqueness per institution is checked in clean() with a message for people; the service
        # turns a twin registered meanwhile into the same field error.
        return


class CaseForm(forms.ModelForm):
    class Meta:
        model = Case
        fields = ["patient", "accession_number", "specimen_type", "assigned_pathologist", "clinical_notes"]
        widgets = {"clinical_notes": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args: Any, user: User | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choose_by_external_id(self)
        allowed = institutions_allowing(user, Action.CREATE_CASE)
        self.fields["patient"].queryset = patients_for(user).filter(  # type: ignore[attr-defined]
            institution__in=allowed
        )
        self.fields["assigned_pathologist"].queryset = User.objects.filter(  # type: ignore[attr-defined]
            memberships__institution__in=allowed,
            memberships__role__in=[Role.PATHOLOGIST, Role.SUPERVISOR],
            memberships__is_active=True,
        ).distinct()
        self.fields["assigned_pathologist"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        patient, accession = data.get("patient"), data.get("accession_number")
        if patient and accession:
            clash = Case.objects.filter(institution=patient.institution, accession_number=accession)
            if clash.exists():
                self.add_error("accession_number", DUPLICATE_ACCESSION)
        return data

    def validate_unique(self) -> None:
        return


class SlideForm(forms.ModelForm):
    class Meta:
        model = Slide
        fields = ["label", "stain", "collected_at"]
        widgets = {"collected_at": forms.DateTimeInput(attrs={"type": "datetime-local"})}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class ImageUploadForm(forms.Form):
    # forms.Field, not FileField: FileField cannot clean the list a multiple input gives (every upload
    # failed with "No file was submitted"), and it would refuse an empty file for the whole request.
    images = forms.Field(
        required=False, widget=MultipleFileInput(attrs={"multiple": True, "accept": "image/*"})
    )

    def clean_images(self) -> list[Any]:
        files = self.files.getlist("images")
        if not files:
            raise forms.ValidationError("Choose at least one image.")
        return files


class SearchForm(forms.Form):
    # A CharField refuses null characters (PostgreSQL text cannot hold one) and strips spaces.
    q = forms.CharField(required=False)


class TransitionForm(forms.Form):
    to_state = forms.CharField(widget=forms.HiddenInput())
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
