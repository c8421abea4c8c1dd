"""The demo institution and its staff, for the zero-set-up run (`make run`)."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.models import Institution, Membership, Role, User

DEMO_STAFF = [
    ("technician@demo.marrowfind.local", "Theo Technician", Role.TECHNICIAN),
    ("pathologist@demo.marrowfind.local", "Petra Pathologist", Role.PATHOLOGIST),
    ("supervisor@demo.marrowfind.local", "Sam Supervisor", Role.SUPERVISOR),
]


def _credentials_file() -> Path:
    return Path(settings.VAR_DIR) / "demo_credentials.txt"


def _load_passwords() -> dict[str, str]:
    path = _credentials_file()
    if not path.exists():
        return {}
    return dict(line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)


def ensure_demo_staff() -> list[tuple[str, str, str]]:
    """Create the demo users once, each with a random password kept under var/ (mode 0600).

    Returns (e-mail, password, role label) for each, to print on start.
    """
    passwords = _load_passwords()
    with transaction.atomic():
        institution, _ = Institution.objects.get_or_create(
            code="demo", defaults={"name": "Demo Haematology Laboratory"}
        )
        for email, name, role in DEMO_STAFF:
            user = User.objects.filter(email=email).first()
            if user is None:
                passwords[email] = secrets.token_urlsafe(12)
                user = User.objects.create_user(
                    email, passwords[email], full_name=name, is_staff=role == Role.SUPERVISOR
                )
            Membership.objects.get_or_create(user=user, institution=institution, defaults={"role": role})
    path = _credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{email} {password}\n" for email, password in passwords.items()))
    path.chmod(0o600)
    return [
        (email, passwords.get(email, "(set before; see var/demo_credentials.txt)"), role.label)
        for email, _, role in DEMO_STAFF
    ]
