"""Model versions in the admin: provenance, read-only. Only a superuser switches the active version,
through the registry, which verifies the weights and audits the switch."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from inference.engine.errors import ModelArtifactError
from inference.models import ModelVersion
from inference.registry import activate_model
from marrowfind.admin_site.site import may_use_admin


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "backbone", "is_active", "weights_sha256", "created_at", "updated_at"]
    list_filter = ["is_active", "backbone"]
    search_fields = ["name", "version", "weights_sha256"]
    actions = ["activate"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in ModelVersion._meta.fields]

    # Versions are registered by the worker's command from an artifact, never typed in.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_use_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_activate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    @admin.action(description="Make the selected version the active one", permissions=["activate"])
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        chosen = queryset.get()
        try:
            # Verifies the folder on disk against the record, audits the switch; a refusal, an unreadable
            # model.json or a simultaneous activation is a ModelArtifactError, shown, never a server error.
            switched = activate_model(chosen, actor=request.user)
        except ModelArtifactError as exc:
            outcome = "is still the active model, but" if chosen.is_active else "was not activated:"
            self.message_user(request, f"{chosen.name} {chosen.version} {outcome} {exc}", messages.ERROR)
            return
        if not switched:
            self.message_user(
                request,
                f"{chosen.name} {chosen.version} is already the active model; nothing changed.",
                messages.INFO,
            )
            return
        self.message_user(
            request, f"{chosen.name} {chosen.version} is now the active model.", messages.SUCCESS
        )
