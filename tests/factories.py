"""factory_boy factories for the domain rows; personas are built from them in conftest.py."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from accounts.models import Institution, Membership, Role, User
from cases.models import Case, Patient, Slide, SpecimenType, Stain

TEST_PASSWORD = "correct-horse-battery-staple"


class InstitutionFactory(factory.django.DjangoModelFactory[Institution]):
    class Meta:
        model = Institution

    name = factory.Sequence(lambda n: f"Hospital {n}")
    code = factory.Sequence(lambda n: f"h{n}")


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        # The password is set after creation; save it (factory_boy no longer saves post-generation).
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    institution = factory.SubFactory(InstitutionFactory)
    role = Role.TECHNICIAN


class PatientFactory(factory.django.DjangoModelFactory[Patient]):
    class Meta:
        model = Patient

    institution = factory.SubFactory(InstitutionFactory)
    medical_record_number = factory.Sequence(lambda n: f"MRN{n:06d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    date_of_birth = dt.date(1980, 5, 17)


class CaseFactory(factory.django.DjangoModelFactory[Case]):
    class Meta:
        model = Case

    patient = factory.SubFactory(PatientFactory)
    institution = factory.SelfAttribute("patient.institution")
    accession_number = factory.Sequence(lambda n: f"ACC-{n:05d}")
    specimen_type = SpecimenType.BONE_MARROW


class SlideFactory(factory.django.DjangoModelFactory[Slide]):
    class Meta:
        model = Slide

    case = factory.SubFactory(CaseFactory)
    stain = Stain.GIEMSA
    collected_at = factory.LazyFunction(timezone.now)
