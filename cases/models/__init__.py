from .audit import AuditEvent
from .case import Case, CaseState, CaseTransition, SpecimenType
from .patient import Patient, Sex
from .slide import Slide, SlideImage, Stain

__all__ = [
    "AuditEvent",
    "Case",
    "CaseState",
    "CaseTransition",
    "Patient",
    "Sex",
    "Slide",
    "SlideImage",
    "SpecimenType",
    "Stain",
]
