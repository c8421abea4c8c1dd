"""`manage.py calibrate_stain` on a laboratory whose stain is beyond correction: a command error that
says why, and no file written (one the loader refuses would stop every analysis once installed)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from inference.engine.stain_calibration import StainCalibration
from tests.inference.test_calibrate_stain_command import laboratory  # noqa: F401 (fixture)


def test_a_stain_too_pale_to_correct_is_a_command_error_and_nothing_is_written(
    tmp_path: Path,
    laboratory: Path,  # noqa: F811
) -> None:
    out = tmp_path / "stain.json"
    with pytest.raises(CommandError, match="outside what a calibration can correct"):
        call_command(
            "calibrate_stain", data=laboratory, out=out, perturb="saturation=0.15", stdout=StringIO()
        )
    assert not out.exists()


def test_an_installed_calibration_is_kept_when_the_new_one_is_refused(
    tmp_path: Path,
    laboratory: Path,  # noqa: F811
) -> None:
    out = tmp_path / "stain.json"
    StainCalibration(hue_shift=6.0, chroma_gain=1.2, fields=12).save(out)
    before = out.read_bytes()
    with pytest.raises(CommandError, match="outside what a calibration can correct"):
        call_command(
            "calibrate_stain",
            data=laboratory,
            out=out,
            perturb="saturation=0.15",
            json=True,
            force=True,
            stdout=StringIO(),
        )
    assert out.read_bytes() == before
