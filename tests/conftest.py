"""Personas: a technician, a pathologist and a supervisor of one hospital, an integration account,
and an outsider who works at another hospital. Tests run on PostgreSQL in CI (DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import Institution, Role, User
from tests.factories import InstitutionFactory, MembershipFactory, PatientFactory, SlideFactory

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    # CI's cache is Redis, which keeps the failed-log-in counters between tests and between runs: a
    # test that logs in would find the address's budget spent by the ones before it.
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2 is deliberately slow; tests create hundreds of users. Production hashing is unchanged.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def hospital(db: None) -> Institution:
    return InstitutionFactory(name="St Mary's Hospital", code="stm")


@pytest.fixture
def other_hospital(db: None) -> Institution:
    return InstitutionFactory(name="Northside Clinic", code="nsc")


def _member(institution: Institution, role: str, email: str) -> User:
    membership = MembershipFactory(institution=institution, role=role, user__email=email)
    user: User = membership.user
    return user


@pytest.fixture
def technician(hospital: Institution) -> User:
    return _member(hospital, Role.TECHNICIAN, "tech@stmary.example")


@pytest.fixture
def pathologist(hospital: Institution) -> User:
    return _member(hospital, Role.PATHOLOGIST, "path@stmary.example")


@pytest.fixture
def supervisor(hospital: Institution) -> User:
    return _member(hospital, Role.SUPERVISOR, "super@stmary.example")


@pytest.fixture
def integration(hospital: Institution) -> User:
    return _member(hospital, Role.INTEGRATION, "lis@stmary.example")


@pytest.fixture
def outsider(other_hospital: Institution) -> User:
    return _member(other_hospital, Role.SUPERVISOR, "boss@northside.example")


@pytest.fixture
def persona(request: pytest.FixtureRequest) -> User:
    """Indirect parametrisation by persona name."""
    user: User = request.getfixturevalue(request.param)
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def patient(hospital: Institution) -> Any:
    return PatientFactory(institution=hospital)


@pytest.fixture
def slide(patient: Any) -> Any:
    return SlideFactory(case__patient=patient)
