from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("", views.CaseListView.as_view(), name="case_list"),
    path("new/", views.CaseCreateView.as_view(), name="case_create"),
    path("<uuid:external_id>/", views.CaseDetailView.as_view(), name="case_detail"),
    path("<uuid:external_id>/slides/", views.SlideCreateView.as_view(), name="slide_create"),
    path("<uuid:external_id>/transition/", views.CaseTransitionView.as_view(), name="case_transition"),
    path("slides/<uuid:external_id>/images/", views.ImageUploadView.as_view(), name="image_upload"),
    path("images/<uuid:external_id>/file/", views.SlideImageFileView.as_view(), name="slide_image_file"),
    path("patients/", views.PatientListView.as_view(), name="patient_list"),
    path("patients/new/", views.PatientCreateView.as_view(), name="patient_create"),
    path("patients/<uuid:external_id>/", views.PatientDetailView.as_view(), name="patient_detail"),
]
