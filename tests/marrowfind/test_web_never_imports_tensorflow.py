"""Web processes (and django-q2 before it forks its workers) must not import TensorFlow: importing
it before the fork makes the workers hang. Loading every URL, admin and management command module
must leave it unimported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import sys, django
django.setup()
from django.contrib import admin
from django.core.management import get_commands, load_command_class
from django.urls import get_resolver
get_resolver().url_patterns
admin.autodiscover()
for name, app in get_commands().items():
    load_command_class(app, name)
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""


def test_no_tensorflow_after_loading_the_web_and_commands() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "marrowfind.settings"}
    result = subprocess.run(  # noqa: S603 (our own interpreter running a fixed script)
        [sys.executable, "-c", PROBE],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
