"""The supervisors' admin for clinical rows and the audit trail (see marrowfind/admin_site/site.py)."""

from . import audit, clinical

__all__ = ["audit", "clinical"]
