"""The abstract base of every domain row."""

from __future__ import annotations

import uuid

from django.db import models


class BaseModel(models.Model):
    """A UUID `external_id` is the primary key and the only identifier (URLs, API, admin, QR codes).

    With no integer key at all, none can leak: the admin's own URLs carry the UUID too.
    """

    external_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
