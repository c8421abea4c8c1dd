"""Server-rendered pages. Thin: they fetch through cases.access and act through cases.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.generic import ListView

from accounts.permissions import Action, can, has_web_access, institutions_allowing
from cases import access
from cases.forms import CaseForm, ImageUploadForm, PatientForm, SearchForm, SlideForm, TransitionForm
from cases.models import Case, CaseState, Patient
from cases.services.cases import create_case
from cases.services.patients import create_patient
from cases.services.slides import UploadRejected, create_slide, upload_slide_image
from cases.transitions import TRANSITIONS, TransitionError, transition
from cases.uploads import FileSizeLimit


class StaffPageMixin(LoginRequiredMixin):
    """Pages are for laboratory staff; integration accounts use the API only.

    `page_action`, where set, is the action the user must be allowed in at least one institution.
    """

    page_action: str = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            if not has_web_access(request.user):
                raise PermissionDenied("This account has no access to the web pages.")
            if self.page_action and not institutions_allowing(request.user, self.page_action).exists():
                raise PermissionDenied("Your role does not allow this.")
        return super().dispatch(request, *args, **kwargs)


def _form_errors_from(exc: ValidationError, form: Any) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _search(queryset: QuerySet[Any], query: str, fields: list[str]) -> QuerySet[Any]:
    """Rows where any of `fields` contains the query, case-insensitively."""
    if not query:
        return queryset
    condition = Q()
    for field in fields:
        condition |= Q(**{f"{field}__icontains": query})
    return queryset.filter(condition)


class _SearchedList(StaffPageMixin, ListView):
    """A list page with a search box."""

    @cached_property
    def q(self) -> str:
        """The search, or "" with a message if it is refused: a null character, which PostgreSQL text
        cannot hold, is refused with the same words as in the admin's search box."""
        form = SearchForm(self.request.GET)
        if form.is_valid():
            return str(form.cleaned_data["q"])
        for errors in form.errors.values():
            messages.error(self.request, " ".join(str(error) for error in errors))
        return ""


PATIENT_SEARCH_FIELDS = ["medical_record_number", "family_name", "given_name"]


class CaseListView(_SearchedList):
    template_name = "cases/case_list.html"
    paginate_by = 25
    context_object_name = "cases"

    def get_queryset(self) -> QuerySet[Case]:
        fields = ["accession_number", *(f"patient__{name}" for name in PATIENT_SEARCH_FIELDS)]
        queryset = _search(access.cases_for(self.request.user), self.q, fields)
        state = self.request.GET.get("state", "")
        if state in CaseState.values:
            queryset = queryset.filter(state=state)
        return queryset

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            q=self.q,
            state=self.request.GET.get("state", ""),
            states=CaseState.choices,
            can_create_case=institutions_allowing(user, Action.CREATE_CASE).exists(),
            can_create_patient=institutions_allowing(user, Action.CREATE_PATIENT).exists(),
        )
        return context


class PatientListView(_SearchedList):
    template_name = "cases/patient_list.html"
    paginate_by = 25
    context_object_name = "patients"

    def get_queryset(self) -> QuerySet[Patient]:
        return _search(access.patients_for(self.request.user), self.q, PATIENT_SEARCH_FIELDS)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["q"] = self.q
        context["can_create_patient"] = institutions_allowing(
            self.request.user, Action.CREATE_PATIENT
        ).exists()
        return context


class _CreateThroughService(StaffPageMixin, View):
    """A form whose valid data goes to a create service; the service's refusals become form errors."""

    form_class: type[forms.BaseForm]
    template_name: str
    parent_field: str  # the cleaned field the service takes first (the institution, the patient)

    def create(self, user: Any, parent: Any, **fields: Any) -> Any:
        raise NotImplementedError

    def created(self, request: HttpRequest, obj: Any) -> HttpResponse:
        raise NotImplementedError

    def form(self, request: HttpRequest, **kwargs: Any) -> forms.BaseForm:
        return self.form_class(user=request.user, **kwargs)  # type: ignore[call-arg]

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, {"form": self.form(request)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self.form(request, data=request.POST)
        if form.is_valid():
            fields = {k: v for k, v in form.cleaned_data.items() if k != self.parent_field}
            try:
                obj = self.create(request.user, form.cleaned_data[self.parent_field], **fields)
            except ValidationError as exc:
                _form_errors_from(exc, form)
            else:
                return self.created(request, obj)
        return render(request, self.template_name, {"form": form}, status=400)


class PatientCreateView(_CreateThroughService):
    page_action = Action.CREATE_PATIENT
    form_class = PatientForm
    template_name = "cases/patient_form.html"
    parent_field = "institution"

    def create(self, user: Any, parent: Any, **fields: Any) -> Patient:
        return create_patient(user, parent, **fields)

    def created(self, request: HttpRequest, obj: Patient) -> HttpResponse:
        messages.success(request, f"Patient {obj.full_name} registered.")
        return redirect("cases:patient_detail", obj.external_id)


class PatientDetailView(StaffPageMixin, View):
    def get(self, request: HttpRequest, external_id: str) -> HttpResponse:
        patient = access.get_patient_for_user(request.user, external_id)
        access.log_view(request.user, patient)
        context = {
            "patient": patient,
            "cases": access.cases_for(request.user).filter(patient=patient),
            "can_create_case": can(request.user, Action.CREATE_CASE, patient.institution),
        }
        return render(request, "cases/patient_detail.html", context)


class CaseCreateView(_CreateThroughService):
    page_action = Action.CREATE_CASE
    form_class = CaseForm
    template_name = "cases/case_form.html"
    parent_field = "patient"

    def get(self, request: HttpRequest) -> HttpResponse:
        initial = {}
        if patient_id := request.GET.get("patient"):
            initial["patient"] = access.get_patient_for_user(request.user, patient_id)
        return render(request, self.template_name, {"form": self.form(request, initial=initial)})

    def create(self, user: Any, parent: Any, **fields: Any) -> Case:
        return create_case(user, parent, **fields)

    def created(self, request: HttpRequest, obj: Case) -> HttpResponse:
        messages.success(request, f"Case {obj.accession_number} created.")
        return redirect("cases:case_detail", obj.external_id)


def _available_moves(request: HttpRequest, case: Case) -> list[dict[str, Any]]:
    moves = []
    for (frm, to), move in TRANSITIONS.items():
        if frm == case.state and move.action is not None and can(request.user, move.action, case.institution):
            moves.append({"to": to, "label": move.verb, "needs_reason": move.needs_reason})
    return moves


def _case_context(request: HttpRequest, case: Case, **extra: Any) -> dict[str, Any]:
    slides = case.slides.prefetch_related("images__uploaded_by")
    return {
        "case": case,
        "slides": slides,
        "transitions": case.transitions.select_related("actor"),
        "moves": _available_moves(request, case),
        "can_edit": can(request.user, Action.CREATE_CASE, case.institution) and case.state == CaseState.DRAFT,
        "can_upload": can(request.user, Action.UPLOAD_IMAGE, case.institution)
        and case.state == CaseState.DRAFT,
        "slide_form": extra.pop("slide_form", None) or SlideForm(),
        "upload_form": ImageUploadForm(),
        **extra,
    }


class CaseDetailView(StaffPageMixin, View):
    def get(self, request: HttpRequest, external_id: str) -> HttpResponse:
        case = access.get_case_for_user(request.user, external_id)
        access.log_view(request.user, case)
        return render(request, "cases/case_detail.html", _case_context(request, case))


class SlideCreateView(StaffPageMixin, View):
    def post(self, request: HttpRequest, external_id: str) -> HttpResponse:
        case = access.get_case_for_user(request.user, external_id, Action.CREATE_CASE)
        form = SlideForm(request.POST)
        if form.is_valid():
            try:
                create_slide(request.user, case, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors_from(exc, form)
            else:
                messages.success(request, "Slide added.")
                return redirect("cases:case_detail", case.external_id)
        return render(
            request, "cases/case_detail.html", _case_context(request, case, slide_form=form), status=400
        )


@method_decorator(csrf_exempt, name="dispatch")  # checked in post(), once the size limit is in place
class ImageUploadView(StaffPageMixin, View):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Installed before anything reads the body (assigning raises if something already has). The
        # CSRF middleware's check would read it with Django's handlers alone, which keep a file whole
        # whatever its size; hence the check in post().
        self.size_limit = FileSizeLimit(request, settings.UPLOAD_MAX_BYTES)
        request.upload_handlers = [self.size_limit, *request.upload_handlers]
        return super().dispatch(request, *args, **kwargs)

    @method_decorator(csrf_protect)
    def post(self, request: HttpRequest, external_id: str) -> HttpResponse:
        slide = access.get_slide_for_user(request.user, external_id, Action.UPLOAD_IMAGE)
        form = ImageUploadForm(request.POST, request.FILES)
        for name in self.size_limit.refused:
            messages.error(request, self.size_limit.message(name))
        if not form.is_valid():
            if not self.size_limit.refused:  # "choose an image" would be wrong: they chose too large ones
                messages.error(request, " ".join(str(error) for error in form.errors.get("images", [])))
            return redirect("cases:case_detail", slide.case.external_id)
        stored = 0
        # Each file stands alone: a refused file never blocks or half-stores the others.
        for uploaded in form.cleaned_data["images"]:
            try:
                upload_slide_image(request.user, slide, uploaded)
                stored += 1
            except UploadRejected as exc:
                messages.error(request, str(exc))
        if stored:
            messages.success(request, f"{stored} image{'s' if stored != 1 else ''} uploaded.")
        return redirect("cases:case_detail", slide.case.external_id)


class CaseTransitionView(StaffPageMixin, View):
    def post(self, request: HttpRequest, external_id: str) -> HttpResponse:
        case = access.get_case_for_user(request.user, external_id)
        form = TransitionForm(request.POST)
        if form.is_valid():
            try:
                transition(
                    case,
                    form.cleaned_data["to_state"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except TransitionError as exc:
                messages.error(request, str(exc))
                return render(request, "cases/case_detail.html", _case_context(request, case), status=409)
            messages.success(request, f"Case is now {case.get_state_display().lower()}.")
        return HttpResponseRedirect(reverse("cases:case_detail", args=[case.external_id]))


class SlideImageFileView(StaffPageMixin, View):
    """Smear images are patient data: served only after the same access check as the case."""

    def get(self, request: HttpRequest, external_id: str) -> FileResponse:
        image = access.get_image_for_user(request.user, external_id)
        response = FileResponse(image.file.open("rb"), content_type=image.mime_type)
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response
