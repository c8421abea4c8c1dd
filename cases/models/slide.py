from __future__ import annotations

from django.conf import settings
from django.db import models

from marrowfind.models import BaseModel

from .case import Case


class Stain(models.TextChoices):
    GIEMSA = "giemsa", "Giemsa"
    WRIGHT = "wright", "Wright"
    LEISHMAN = "leishman", "Leishman"
    MAY_GRUNWALD_GIEMSA = "may_grunwald_giemsa", "May-Grünwald-Giemsa"


class Slide(BaseModel):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="slides")
    label = models.CharField(max_length=64, blank=True, help_text="The label written on the glass.")
    stain = models.CharField(max_length=30, choices=Stain.choices)
    collected_at = models.DateTimeField("collection time")

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.case} / {self.label or self.get_stain_display()}"


def slide_image_path(instance: SlideImage, filename: str) -> str:
    # Named by content hash, never by the uploaded name (which may hold patient data or path tricks).
    suffix = {"image/jpeg": "jpg", "image/png": "png", "image/tiff": "tif", "image/bmp": "bmp"}[
        instance.mime_type
    ]
    return f"slides/{instance.case.institution.external_id}/{instance.sha256}.{suffix}"


class SlideImage(BaseModel):
    slide = models.ForeignKey(Slide, on_delete=models.PROTECT, related_name="images")
    # Denormalised from the slide so the database can refuse the same file twice on one case.
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="images", editable=False)
    file = models.FileField(upload_to=slide_image_path, max_length=255)
    original_filename = models.CharField(max_length=255)
    mime_type = models.CharField(max_length=20)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "sha256"], name="unique_image_per_case")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.original_filename
