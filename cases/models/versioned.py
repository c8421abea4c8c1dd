from __future__ import annotations

from django.db import models


class Versioned(models.Model):
    """A row people edit in forms: `row_version` counts the edits of its fields.

    An edit form carries the version it was opened at, and the service refuses the save when the row
    was changed since (cases/services/row_versions.py): of two people who opened the same form, the
    later save had silently undone the earlier one. Moving a case through the state machine does not
    count: the fields a form shows are unchanged, and a case that left the editable states is refused
    by its state.
    """

    row_version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        abstract = True
