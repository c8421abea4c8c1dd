"""Institutions, users and memberships in the admin.

A supervisor manages the people of the institutions they supervise: creates an account (e-mail,
password, and its membership in one go), changes roles, deactivates memberships. Memberships are
deactivated, never deleted, so who held which role stays on record. Every change is audited.
"""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django import forms
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.models import Institution, Membership, Role, User
from accounts.permissions import Action
from cases.audit import record_event, snapshot
from cases.audit.service import changed_values
from cases.models.audit import AuditAction
from marrowfind.admin_site.null_characters import RefuseNullCharacters
from marrowfind.admin_site.site import ScopedAdmin, may_use_admin, membership_scope

# Never the password hash, which `snapshot` would otherwise include.
USER_AUDIT_FIELDS = ["email", "full_name", "is_active", "is_staff", "is_superuser"]


def _audit_save(
    request: HttpRequest,
    obj: Any,
    before: dict[str, Any] | None,
    institution: Institution | None,
    fields: list[str] | None = None,
) -> None:
    """Audit a create (`before` None) or an update (only the changed fields)."""
    after = snapshot(obj, fields)
    if before is None:
        record_event(
            actor=request.user, action=AuditAction.CREATE, target=obj, institution=institution, after=after
        )
        return
    old, new = changed_values(before, after)
    if new:
        record_event(
            actor=request.user,
            action=AuditAction.UPDATE,
            target=obj,
            target_type=obj._meta.label,
            institution=institution,
            before=old,
            after=new,
        )


# --- institutions ------------------------------------------------------------------------------------


@admin.register(Institution)
class InstitutionAdmin(ScopedAdmin):
    """Supervisors see their institutions; only superusers create or rename one."""

    institution_path = "pk"
    view_action = Action.VIEW_CASE
    list_display = ["name", "code", "is_active", "created_at"]
    search_fields = ["name", "code"]
    readonly_fields = ["external_id", "created_at", "updated_at"]

    def scope_filter(self, queryset: QuerySet[Any], institutions: QuerySet[Institution]) -> QuerySet[Any]:
        return queryset.filter(pk__in=institutions)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def save_model(self, request: HttpRequest, obj: Institution, form: ModelForm[Any], change: bool) -> None:
        before = snapshot(Institution.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        _audit_save(request, obj, before, obj)


# --- users -------------------------------------------------------------------------------------------


def _manages_user(request: HttpRequest, user: User) -> bool:
    """A supervisor may change an account only if every membership of it is in their institutions.

    Otherwise a supervisor of one hospital could reset the password of someone who also works (or
    supervises) elsewhere and act there under their name.
    """
    if request.user.is_superuser:
        return True
    if user.is_superuser:
        return False
    memberships = user.memberships.all()
    return (
        memberships.exists()
        and not memberships.exclude(institution__in=membership_scope(request.user)).exists()
    )


class StaffCreationForm(auth_forms.BaseUserCreationForm):
    institution = forms.ModelChoiceField(queryset=Institution.objects.none())
    role = forms.ChoiceField(choices=Role.choices)
    institution_queryset: QuerySet[Institution] = Institution.objects.none()

    class Meta:
        model = User
        fields = ("email", "full_name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = self.institution_queryset  # type: ignore[attr-defined]

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this e-mail address exists; add a membership to it instead."
            )
        return email


class StaffChangeForm(auth_forms.UserChangeForm):
    class Meta:
        model = User
        fields = ("email", "full_name", "is_active", "is_staff", "is_superuser")


@admin.register(User)
class UserAdmin(RefuseNullCharacters, auth_admin.UserAdmin):
    form = StaffChangeForm
    add_form = StaffCreationForm
    list_display = ["email", "full_name", "is_active", "last_login"]
    list_filter = ["is_active"]
    search_fields = ["email", "full_name"]
    ordering = ["email"]
    filter_horizontal = ()
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = ((None, {"fields": ["email", "password", "full_name"]}),)
    add_fieldsets = (
        (None, {"classes": ["wide"], "fields": ["email", "full_name", "password1", "password2"]}),
        ("Membership", {"fields": ["institution", "role"]}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        access = ["is_active", "is_staff", "is_superuser"] if request.user.is_superuser else []
        return (
            (None, {"fields": ["email", "password", "full_name"]}),
            ("Access", {"fields": access}),
            ("Dates", {"fields": ["last_login", "date_joined"]}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The e-mail is the log-in name and the audit label: superusers may correct it, nobody else.
        if obj is not None and not request.user.is_superuser:
            return [*self.readonly_fields, "email"]
        return self.readonly_fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            scope = membership_scope(request.user)
            form = type("ScopedStaffCreationForm", (form,), {"institution_queryset": scope})
        return form

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(memberships__institution__in=membership_scope(request.user)).distinct()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not may_use_admin(request.user):
            return False
        if request.user.is_superuser:
            return True
        managed = membership_scope(request.user)
        if obj is None:
            return managed.exists()
        return obj.memberships.filter(institution__in=managed).exists()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user) and membership_scope(request.user).exists()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self.has_view_permission(request, obj):
            return False
        return obj is None or _manages_user(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # accounts are deactivated; the audit trail refers to them

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm[Any], change: bool) -> None:
        before = snapshot(User.objects.get(pk=obj.pk), USER_AUDIT_FIELDS) if change else None
        super().save_model(request, obj, form, change)
        _audit_save(request, obj, before, None, USER_AUDIT_FIELDS)
        if not change:
            institution = form.cleaned_data["institution"]
            membership = Membership.objects.create(
                user=obj, institution=institution, role=form.cleaned_data["role"]
            )
            _audit_save(request, membership, None, institution)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        # The password view does not go through save_model; its change message names the field.
        changed = [
            field
            for entry in (message if isinstance(message, list) else [])
            for field in entry.get("changed", {}).get("fields", [])
        ]
        if "password" in changed:
            record_event(
                actor=request.user,
                action=AuditAction.UPDATE,
                target=obj,
                target_type=obj._meta.label,
                after={"password": "changed"},
            )
        return super().log_change(request, obj, message)


# --- memberships -------------------------------------------------------------------------------------


@admin.register(Membership)
class MembershipAdmin(ScopedAdmin):
    view_action = Action.MANAGE_MEMBERS
    change_action = Action.MANAGE_MEMBERS
    list_display = ["user", "institution", "role", "is_active", "created_at"]
    list_filter = ["role", "is_active", ("institution", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__email", "user__full_name"]
    list_select_related = ["user", "institution"]
    fields = ["user", "institution", "role", "is_active"]

    def view_scope(self, request: HttpRequest) -> QuerySet[Institution]:
        return membership_scope(request.user)

    def change_scope(self, request: HttpRequest) -> QuerySet[Institution]:
        return membership_scope(request.user)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A membership is one person in one institution; another pairing is another membership.
        return ["user", "institution"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        scope = self.change_scope(request)
        if db_field.name == "institution":
            kwargs["queryset"] = scope
        elif db_field.name == "user" and not request.user.is_superuser:
            # Only people already known to the supervisor's institutions: the list of every account
            # on the platform is not theirs to read.
            kwargs["queryset"] = User.objects.filter(memberships__institution__in=scope).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Membership, form: ModelForm[Any], change: bool) -> None:
        before = snapshot(Membership.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        _audit_save(request, obj, before, obj.institution)


# Roles are memberships, and e-mail addresses are set by supervisors rather than verified by mail:
# Django's groups and allauth's e-mail table are unused, so they are not offered.
for unused in (Group, EmailAddress):
    if admin.site.is_registered(unused):
        admin.site.unregister(unused)
