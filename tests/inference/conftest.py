"""Fixtures shared by the inference command tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.engine import worker_load
from inference.engine.artifact import read_model_info
from tests.engine.voc import write_generated_voc_folder


@pytest.fixture
def voc_folder(tmp_path: Path) -> Path:
    """A Pascal VOC folder of two generated fields, every cell boxed."""
    data = tmp_path / "voc"
    data.mkdir()
    write_generated_voc_folder(data)
    return data


@pytest.fixture(autouse=True)
def _few_byte_weights_are_not_loaded(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry tests' artifacts (`model_artifacts.make_artifact`) hold a few bytes for weights,
    which no worker could load: the registering commands' trial load reads their model.json instead,
    except in tests that use `worker_trial_load`."""
    if "worker_trial_load" not in request.fixturenames:
        monkeypatch.setattr(worker_load, "load_as_a_worker", read_model_info)


@pytest.fixture
def worker_trial_load() -> None:
    """The registering commands load a folder as a worker would (TensorFlow), as in production."""
