"""A null character in a search or a filter cannot be compared with PostgreSQL text: left to the
database, `?q=%00` or `?role__exact=%00` was a server error (and the audit export could not write its
own audit row). Such a change list is answered as for any other bad parameter: back to the list, with
the message the search boxes give. Every ModelAdmin of the site has this (`ScopedAdmin`, and the
accounts' `UserAdmin`, which builds on Django's)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.http import HttpRequest


class RefuseNullCharacters(admin.ModelAdmin):
    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        refuse_null_characters = ProhibitNullCharactersValidator()
        try:
            for key, values in request.GET.lists():
                for text in (key, *values):
                    refuse_null_characters(text)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            raise IncorrectLookupParameters(exc) from None
        return super().get_changelist_instance(request)
