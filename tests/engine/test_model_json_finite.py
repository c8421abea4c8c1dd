"""`write_model_json` never writes what `read_model_info` refuses: NaN and infinities are not JSON, so
a model.json holding one would be written whole and then refused by the registry and every loader."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from inference.engine.artifact import MODEL_JSON, write_model_json
from inference.engine.errors import ModelArtifactError


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_number_that_is_not_finite_is_refused_naming_where_it_is(tmp_path: Path, value: float) -> None:
    info = {"name": "m", "hyperparameters": {"keras_agreement_max_probability_difference": value}}
    with pytest.raises(ModelArtifactError, match=r"hyperparameters\.keras_agreement_max_probability"):
        write_model_json(tmp_path, info)
    assert list(tmp_path.iterdir()) == []


def test_a_list_entry_is_named_by_its_index(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match=r"metrics\.bins\[2\]"):
        write_model_json(tmp_path, {"metrics": {"bins": [0.1, 0.2, math.nan]}})


def test_finite_numbers_are_written(tmp_path: Path) -> None:
    write_model_json(tmp_path, {"name": "m", "loss": 0.25, "epochs": 3})
    assert (tmp_path / MODEL_JSON).read_text().startswith("{")
