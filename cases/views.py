from django.views.generic import TemplateView


class CaseListView(TemplateView):
    template_name = "cases/case_list.html"
