"""Fixtures shared by the inference command tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.voc import write_generated_voc_folder


@pytest.fixture
def voc_folder(tmp_path: Path) -> Path:
    """A Pascal VOC folder of two generated fields, every cell boxed."""
    data = tmp_path / "voc"
    data.mkdir()
    write_generated_voc_folder(data)
    return data
