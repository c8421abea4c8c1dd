"""Model artifact folders as the engine writes them, for the registry tests (the registry never loads
the weights, so a few bytes stand in for them)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def make_artifact(folder: Path, payload: bytes = b"weights-v1", name: str = "tiny", **changes: Any) -> Path:
    """An artifact folder; `changes` replace or add top-level model.json entries."""
    folder.mkdir(parents=True)
    (folder / "weights.npz").write_bytes(payload)
    info = {
        "format_version": 1,
        "name": name,
        "backbone": "mobilenet",
        "architecture": {"backbone": "mobilenet"},
        "classes": ["benign", "early_pre_b", "pre_b", "pro_b"],
        "preprocessing": {"clahe": {"clip_limit": 2.0}},
        "metrics": {"val": {"accuracy": 0.99}},
        "weights": {"file": "weights.npz", "sha256": hashlib.sha256(payload).hexdigest()},
        "created_at": "2026-11-25T10:00:00+00:00",
        **changes,
    }
    write_model_json(folder, info)
    return folder


def model_json(folder: Path) -> dict[str, Any]:
    info: dict[str, Any] = json.loads((folder / "model.json").read_text())
    return info


def write_model_json(folder: Path, info: dict[str, Any]) -> None:
    (folder / "model.json").write_text(json.dumps(info))
