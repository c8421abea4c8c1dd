"""Provenance of AI results: every analysis points at the exact model version that made it."""

from __future__ import annotations

from django.db import models

from marrowfind.models import BaseModel


class ModelVersion(BaseModel):
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=40)
    backbone = models.CharField(max_length=40)
    weights_sha256 = models.CharField(max_length=64, unique=True)
    classes = models.JSONField()
    preprocessing = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    manifest = models.JSONField(default=dict, help_text="The artifact's model.json as registered.")
    model_json_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="sha256 of model.json's content as registered (canonical JSON: key order and spacing do "
        "not count); activation refuses a folder whose model.json differs. Empty on versions registered "
        "before it was recorded: those are compared with the stored model.json instead.",
    )
    path = models.CharField(max_length=500, help_text="The artifact folder on the workers' file system.")
    is_active = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model_version"
            ),
            models.UniqueConstraint(fields=["name", "version"], name="unique_model_name_version"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} {self.version}" + (" (active)" if self.is_active else "")
