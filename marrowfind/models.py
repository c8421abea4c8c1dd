"""The abstract base of every domain row."""

from __future__ import annotations

import uuid

from django.db import models


class BaseModel(models.Model):
    """A UUID `external_id` is the only identifier that leaves the server (URLs, API, QR codes)."""

    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
