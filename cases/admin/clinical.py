"""Patients, cases, slides and slide images in the admin.

Every add and change goes through cases.services, so it is permission-checked and audited like the
same change made on the pages. Nothing is deleted: a case is closed by cancelling it through the
state machine. Slide images are read-only; their thumbnails come from the permission-checked view,
since MEDIA is not public.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from accounts.models import Role, User
from accounts.permissions import Action
from cases.access import log_view
from cases.forms import SeenVersionForm
from cases.models import Case, CaseTransition, Patient, Slide, SlideImage
from cases.services.cases import EDITABLE_STATES, create_case, update_case
from cases.services.patients import create_patient, update_patient
from cases.services.slides import UPLOAD_STATES, create_slide
from marrowfind.admin_site.site import ReadOnlyInline, ScopedAdmin


def _changes(form: ModelForm[Any], exclude: set[str]) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in form.changed_data if name not in exclude}


def _adopt(obj: Any, created: Any) -> None:
    """Make the admin's form instance the row the service created (the admin logs and redirects with it)."""
    for field in created._meta.concrete_fields:
        setattr(obj, field.attname, getattr(created, field.attname))
    obj._state.adding, obj._state.db = False, created._state.db


def image_file_url(image: SlideImage) -> str | None:
    try:
        return reverse("cases:slide_image_file", args=[image.external_id])
    except NoReverseMatch:
        return None


def thumbnail(image: SlideImage, height: int = 64) -> str:
    url = image_file_url(image)
    if url is None:
        return "—"
    return format_html(
        '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="{}" loading="lazy" '
        'style="max-height:{}px;max-width:{}px"></a>',
        url,
        url,
        image.original_filename,
        height,
        height * 2,
    )


class AccessLogged(ScopedAdmin):
    """Opening a patient or a case in the admin is a view like any other: it goes in the access log."""

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if request.method == "GET":
            obj = self.get_object(request, object_id)
            if obj is not None:
                log_view(request.user, obj)
        return super().change_view(request, object_id, form_url, extra_context)


class VersionChecked(ScopedAdmin):
    """A patient's or a case's change form carries the row's version as it was opened (hidden); the
    service refuses the save if someone changed the row since, naming who and when in the message."""

    form = SeenVersionForm

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None or not self.has_change_permission(request, obj):
            return fieldsets  # nothing will be saved: the form is not sent back
        (name, options), *rest = fieldsets
        return [(name, {**options, "fields": [*options["fields"], "seen_version"]}), *rest]


@admin.register(Patient)
class PatientAdmin(VersionChecked, AccessLogged):
    view_action = Action.VIEW_PATIENT
    change_action = Action.CREATE_PATIENT
    list_display = [
        "medical_record_number",
        "family_name",
        "given_name",
        "date_of_birth",
        "sex",
        "institution",
    ]
    list_filter = [("institution", admin.RelatedOnlyFieldListFilter), "sex"]
    search_fields = ["medical_record_number", "family_name", "given_name"]
    list_select_related = ["institution"]
    fields = ["institution", "medical_record_number", "given_name", "family_name", "date_of_birth", "sex"]
    readonly_fields = ["external_id", "created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A patient never moves between institutions.
        return [*self.readonly_fields, "institution"] if obj is not None else list(self.readonly_fields)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [*self.fields, *(self.readonly_fields if obj is not None else [])]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "institution":
            kwargs["queryset"] = self.change_scope(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Patient, form: ModelForm[Any], change: bool) -> None:
        if change:
            # The form already wrote its values onto `obj`; the service re-reads the stored row under
            # a lock, compares with that, and refuses the save if the row was edited since the form
            # was opened.
            update_patient(
                request.user,
                obj,
                seen_version=form.cleaned_data["seen_version"],
                **_changes(form, {"institution"}),
            )
            obj.refresh_from_db()
        else:
            fields = {name: value for name, value in form.cleaned_data.items() if name != "institution"}
            created = create_patient(request.user, form.cleaned_data["institution"], **fields)
            _adopt(obj, created)


class TransitionInline(ReadOnlyInline):
    model = CaseTransition
    fields = readonly_fields = ("created_at", "from_state", "to_state", "actor_label", "reason")
    ordering = ["created_at"]
    verbose_name = "state change"
    verbose_name_plural = "state history"


class SlideInline(ReadOnlyInline):
    model = Slide
    fields = readonly_fields = ("label", "stain", "collected_at", "created_at")
    show_change_link = True


@admin.register(Case)
class CaseAdmin(VersionChecked, AccessLogged):
    view_action = Action.VIEW_CASE
    change_action = Action.CREATE_CASE
    list_display = [
        "accession_number",
        "patient",
        "specimen_type",
        "state",
        "assigned_pathologist",
        "created_at",
    ]
    list_filter = ["state", "specimen_type", ("institution", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["accession_number", "patient__medical_record_number", "patient__family_name"]
    list_select_related = ["patient", "institution", "assigned_pathologist"]
    date_hierarchy = "created_at"
    fields = ["patient", "accession_number", "specimen_type", "clinical_notes", "assigned_pathologist"]
    # The state changes only through the state machine; it is shown, never edited here.
    info_fields = ["external_id", "institution", "state", "created_by", "created_at", "updated_at"]
    inlines = [TransitionInline, SlideInline]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return list(self.inlines) if obj is not None else []  # a new case has no history yet

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [*self.fields, *(self.info_fields if obj is not None else [])]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["patient", *self.info_fields]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.state not in EDITABLE_STATES:
            return False  # signed out or cancelled: closed records are amended, not edited
        return super().has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        scope = self.change_scope(request)
        if db_field.name == "patient":
            kwargs["queryset"] = Patient.objects.filter(institution__in=scope)
        elif db_field.name == "assigned_pathologist":
            kwargs["queryset"] = User.objects.filter(
                memberships__institution__in=scope,
                memberships__is_active=True,
                memberships__role__in=[Role.PATHOLOGIST, Role.SUPERVISOR],
            ).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Case, form: ModelForm[Any], change: bool) -> None:
        if change:
            # Refused (a message, as for any service refusal) if the case left the editable states
            # after this page read it, or was edited since: a sign-out or another person's edit
            # committed meanwhile is never undone.
            update_case(
                request.user,
                obj,
                seen_version=form.cleaned_data["seen_version"],
                **_changes(form, {"patient", "institution"}),
            )
            obj.refresh_from_db()
        else:
            fields = {name: value for name, value in form.cleaned_data.items() if name != "patient"}
            created = create_case(request.user, form.cleaned_data["patient"], **fields)
            _adopt(obj, created)


class SlideImageInline(ReadOnlyInline):
    model = SlideImage
    fields = readonly_fields = (
        "preview",
        "original_filename",
        "width",
        "height",
        "uploaded_by",
        "created_at",
    )

    @admin.display(description="image")
    def preview(self, image: SlideImage) -> str:
        return thumbnail(image)


@admin.register(Slide)
class SlideAdmin(ScopedAdmin):
    institution_path = "case__institution"
    view_action = Action.VIEW_CASE
    change_action = Action.CREATE_CASE
    list_display = ["__str__", "case", "stain", "collected_at", "created_at"]
    list_filter = ["stain"]
    search_fields = ["label", "case__accession_number"]
    list_select_related = ["case"]
    fields = ["case", "label", "stain", "collected_at"]
    inlines = [SlideImageInline]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Slides are added here (through the service); there is no service that edits one.
        return obj is None and super().has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "case":
            kwargs["queryset"] = Case.objects.filter(
                institution__in=self.change_scope(request), state__in=UPLOAD_STATES
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Slide, form: ModelForm[Any], change: bool) -> None:
        fields = {name: value for name, value in form.cleaned_data.items() if name != "case"}
        created = create_slide(request.user, form.cleaned_data["case"], **fields)
        _adopt(obj, created)


@admin.register(SlideImage)
class SlideImageAdmin(ScopedAdmin):
    """Read-only: images arrive through the upload service, which validates them by content."""

    institution_path = "case__institution"
    view_action = Action.VIEW_CASE
    change_action = None
    list_display = [
        "preview",
        "original_filename",
        "case",
        "slide",
        "width",
        "height",
        "uploaded_by",
        "created_at",
    ]
    list_select_related = ["case", "slide__case", "uploaded_by"]
    search_fields = ["original_filename", "sha256", "case__accession_number"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "large_preview",
        "external_id",
        "case",
        "slide",
        "original_filename",
        "mime_type",
        "sha256",
        "size_bytes",
        "width",
        "height",
        "uploaded_by",
        "created_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[SlideImage]:
        return super().get_queryset(request).select_related("case", "slide__case", "uploaded_by")

    @admin.display(description="image")
    def preview(self, image: SlideImage) -> str:
        return thumbnail(image)

    @admin.display(description="image")
    def large_preview(self, image: SlideImage) -> str:
        return thumbnail(image, height=320)
