"""The audit trail in the admin: read-only, filterable, exportable as CSV (the export is audited too).

Supervisors see the rows of the institutions they supervise, plus the rows without an institution
(log-ins, log-outs, failed log-ins, exports) of people who are or were members of those institutions.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from accounts.models import Institution, User
from accounts.permissions import Action
from cases.audit import record_event
from cases.models.audit import AuditAction, AuditEvent
from marrowfind.admin_site.site import ScopedAdmin

# The integer id is the chain's order on the server and is not exported: `previous_hash` links the
# rows in the same order, and rows are named by `external_id` everywhere outside the database.
CSV_COLUMNS = [
    "external_id",
    "created_at",
    "actor_label",
    "institution",
    "action",
    "source",
    "target_type",
    "target_id",
    "case_external_id",
    "before",
    "after",
    "request_id",
    "ip_address",
    "user_agent",
    "previous_hash",
    "hash",
]
# A cell starting with one of these is a formula in a spreadsheet; labels and user agents are typed by
# whoever is on the other end, so such cells are quoted.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def csv_rows(events: Iterable[AuditEvent]) -> Iterator[list[str]]:
    yield CSV_COLUMNS
    for event in events:
        yield [
            _cell(getattr(event, "institution", None) if column == "institution" else getattr(event, column))
            for column in CSV_COLUMNS
        ]


class _Echo:
    """A file-like object for csv.writer that hands each line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


class CaseFilter(admin.SimpleListFilter):
    """The trail of one case, by its external id (typed or pasted)."""

    title = "case external id"
    parameter_name = "case"
    template = "admin/cases/auditevent/case_filter.html"

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        # The other filters stay applied when this one's form is submitted (a new search resets paging).
        self.preserved_params = [
            (key, value)
            for key, values in request.GET.lists()
            if key not in {self.parameter_name, "p"}
            for value in values
        ]

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        if not value:
            return queryset
        found = _uuids([value.strip()])
        return queryset.filter(case_external_id=found[0]) if found else queryset.none()


def _uuids(values: Iterable[str]) -> list[uuid.UUID]:
    found = []
    for value in values:
        try:
            found.append(uuid.UUID(value))
        except ValueError:
            continue
    return found


class AuditChangeList(ChangeList):
    """Links each row by its external id: the integer id is the chain's order, kept on the server."""

    def url_for_result(self, result: Model) -> str:
        assert isinstance(result, AuditEvent)
        return reverse(
            "admin:cases_auditevent_change",
            args=(str(result.external_id),),
            current_app=self.model_admin.admin_site.name,
        )


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdmin):
    view_action = Action.VIEW_AUDIT
    change_action = None
    list_display = [
        "created_at",
        "actor_label",
        "action",
        "source",
        "target_type",
        "target_id",
        "institution",
    ]
    list_filter = [
        "action",
        "source",
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("institution", admin.RelatedOnlyFieldListFilter),
        CaseFilter,
    ]
    search_fields = ["actor_label", "target_id", "request_id"]
    list_select_related = ["institution"]
    date_hierarchy = "created_at"
    ordering = ["-id"]
    actions = ["export_selected_csv"]
    change_list_template = "admin/cases/auditevent/change_list.html"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [*CSV_COLUMNS[:3], "actor", *CSV_COLUMNS[3:]]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.get_fields(request, obj)

    # --- rows named by external id ---------------------------------------------------------------
    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AuditChangeList

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        found = _uuids([object_id])
        if not found:
            return None
        return self.get_queryset(request).filter(external_id=found[0]).first()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The scoped queryset decides, since it also holds the members' rows that have no institution
        # (log-ins, log-outs, exports), which the institution check of the base class cannot place.
        if not super().has_view_permission(request):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj: AuditEvent) -> SafeString:
        attrs = {"class": "action-select", "aria-label": f"Select this audit row - {obj}"}
        checkbox = forms.CheckboxInput(attrs, lambda value: False)
        return checkbox.render(helpers.ACTION_CHECKBOX_NAME, str(obj.external_id))

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        # The admin selects by primary key: the external ids the page sent are looked up here.
        selected = _uuids(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))
        post = request.POST.copy()
        post.setlist(
            helpers.ACTION_CHECKBOX_NAME,
            [str(pk) for pk in queryset.filter(external_id__in=selected).values_list("pk", flat=True)],
        )
        request.POST = post  # type: ignore[assignment]
        return super().response_action(request, queryset, *args, **kwargs)

    def scope_filter(self, queryset: QuerySet[Any], institutions: QuerySet[Institution]) -> QuerySet[Any]:
        members = User.objects.filter(memberships__institution__in=institutions)
        return queryset.filter(
            Q(institution__in=institutions)
            | Q(institution__isnull=True, actor__in=members)
            # failed log-ins have no actor; the label is the address that was tried
            | Q(institution__isnull=True, actor__isnull=True, actor_label__in=members.values("email"))
        )

    # --- export ---------------------------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        export = path(
            "export/", self.admin_site.admin_view(self.export_filtered_csv), name="cases_auditevent_export"
        )
        return [export, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        query = request.GET.urlencode()
        export_url = reverse("admin:cases_auditevent_export") + (f"?{query}" if query else "")
        return super().changelist_view(request, {**(extra_context or {}), "export_url": export_url})

    def export_filtered_csv(self, request: HttpRequest) -> HttpResponseBase:
        """The rows the change list shows with the same filters, search and date, all pages."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # Answered as the change list answers them, and nothing is exported or audited.
            return HttpResponseRedirect(f"{reverse('admin:cases_auditevent_changelist')}?{ERROR_FLAG}=1")
        queryset = changelist.get_queryset(request)
        filters = {key: value for key, value in request.GET.items() if key not in {"o", "p"}}
        return self._export(request, queryset, {"filters": filters})

    @admin.action(description="Export selected audit rows as CSV")
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> HttpResponseBase:
        return self._export(request, queryset, {"selected": True})

    def _export(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent], what: dict[str, Any]
    ) -> HttpResponseBase:
        queryset = queryset.select_related("institution").order_by("id")
        count = queryset.count()
        # Written before the file is sent: an export that was asked for is on record even if the
        # download breaks off.
        record_event(
            actor=request.user,
            action=AuditAction.EXPORT,
            target_type=AuditEvent._meta.label,
            after={**what, "rows": count, "format": "csv"},
        )
        writer = csv.writer(_Echo())
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in csv_rows(queryset.iterator(chunk_size=2000))),
            content_type="text/csv; charset=utf-8",
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response
