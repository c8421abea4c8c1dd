"""The admin is the supervisors' tool: supervisors use it without being superusers, and see only the
rows of the institutions they supervise. Superusers see every row.

Installed by naming `marrowfind.admin_site.apps.MarrowFindAdminConfig` instead of
`django.contrib.admin` in INSTALLED_APPS, so `admin.site` and `@admin.register` are this site.

Permissions come from the permission matrix (accounts.permissions), never from Django's per-model
permissions: a supervisor's reach is "this action in these institutions", which Django's global
model permissions cannot say. Clinical rows are never deleted, by anyone, through the admin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse

from accounts.models import Institution, Role
from accounts.permissions import Action, active_memberships, institutions_allowing
from marrowfind.admin_site.null_characters import RefuseNullCharacters

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import Model, QuerySet

    from accounts.models import User


def is_supervisor(user: User | AnonymousUser) -> bool:
    return active_memberships(user).filter(role=Role.SUPERVISOR).exists()


def may_use_admin(user: User | AnonymousUser) -> bool:
    return bool(user.is_active and (user.is_superuser or is_supervisor(user)))


def admin_institutions(user: User | AnonymousUser, action: str) -> QuerySet[Institution]:
    """Institutions where the user may do `action` in the admin: those they supervise, as the matrix allows.

    A supervisor of one hospital who is a technician in another acts in the admin for the first only.
    """
    supervised = active_memberships(user).filter(role=Role.SUPERVISOR).values("institution")
    return institutions_allowing(user, action).filter(pk__in=supervised)


def membership_scope(user: User | AnonymousUser) -> QuerySet[Institution]:
    """Institutions whose people the user manages; superusers manage all (someone creates the first
    supervisor of a new institution)."""
    if user.is_superuser:
        return Institution.objects.all()
    return admin_institutions(user, Action.MANAGE_MEMBERS)


class MarrowFindAdminSite(admin.AdminSite):
    site_header = "Marrow-Find administration"
    site_title = "Marrow-Find admin"
    index_title = "Supervision"

    def has_permission(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The administration has no log-in form of its own: people log in on the one log-in page
        (allauth's), which limits failed attempts and answers every wrong password alike. Django's
        admin form had no limit, and told a right password of an account without admin access from
        a wrong one."""
        if not request.user.is_authenticated:
            next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index", current_app=self.name)
            return redirect_to_login(next_url, "account_login")
        # Someone logged in without access would otherwise be sent back and forth between the
        # admin and the log-in page; they get a plain refusal instead.
        if not self.has_permission(request):
            raise PermissionDenied("This account has no access to the administration.")
        return redirect("admin:index")


class ScopedAdmin(RefuseNullCharacters):
    """A ModelAdmin whose rows belong to an institution reached through `institution_path`.

    `view_action` scopes what is listed; `change_action` (None: read-only) what may be added or
    changed. Deletion is refused for every row. A null character in a search or filter is refused.
    """

    institution_path: str = "institution"
    view_action: str = ""
    change_action: str | None = None

    # --- scoping ---------------------------------------------------------------------------------
    def view_scope(self, request: HttpRequest) -> QuerySet[Institution]:
        if request.user.is_superuser:
            return Institution.objects.all()
        return admin_institutions(request.user, self.view_action)

    def change_scope(self, request: HttpRequest) -> QuerySet[Institution]:
        # Superusers too act only where they hold the role: the services check memberships, and a
        # clinical change must be attributable to someone of the institution.
        if self.change_action is None:
            return Institution.objects.none()
        return admin_institutions(request.user, self.change_action)

    def scope_filter(self, queryset: QuerySet[Any], institutions: QuerySet[Institution]) -> QuerySet[Any]:
        return queryset.filter(**{f"{self.institution_path}__in": institutions})

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return self.scope_filter(queryset, self.view_scope(request))

    def institution_of(self, obj: Model) -> Institution:
        if self.institution_path == "pk":
            return obj  # type: ignore[return-value]
        value: Any = obj
        for part in self.institution_path.split("__"):
            value = getattr(value, part)
        return value

    def _in_scope(self, obj: Model | None, scope: QuerySet[Institution]) -> bool:
        if obj is None:
            return scope.exists()
        return scope.filter(pk=self.institution_of(obj).pk).exists()

    # --- permissions -----------------------------------------------------------------------------
    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user) and self.view_scope(request).exists()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_use_admin(request.user) and self._in_scope(obj, self.view_scope(request))

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return may_use_admin(request.user) and self._in_scope(None, self.change_scope(request))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_use_admin(request.user) and self._in_scope(obj, self.change_scope(request))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- service errors ----------------------------------------------------------------------------
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # A service may refuse after the form validated (a rule the form does not know); the
        # transaction is rolled back and the refusal shown rather than a server error.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, _describe(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def _describe(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(
            f"{field.replace('_', ' ')}: {' '.join(errors)}" if field != "__all__" else " ".join(errors)
            for field, errors in exc.message_dict.items()
        )
    return " ".join(exc.messages)


class ReadOnlyInline(admin.TabularInline):
    """History shown under its parent (which is already scoped); never added to, changed or removed."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_use_admin(request.user)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
