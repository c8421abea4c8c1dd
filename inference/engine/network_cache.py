"""The red-cell network a process holds, loaded again when its folder changes on disk.

`choose_centre_threshold --write` and `choose_radius_factor --write` rewrite a network's model.json in
place, and a laboratory may retrain one into the same folder. A network loaded once per process kept
counting with the old threshold until the worker was restarted, while a fresh worker used the new
one (the same fields differed by up to 26%). As the classifier's `get_predictor` does, the network
is held with a fingerprint of its folder and loaded again when that changes. The fingerprint is
cheap enough for every field: model.json's bytes (a few kilobytes, hashed: a rewrite of the same size
within one tick of the file system's clock is still seen) and a stat of the weights file, never a
hash of the weights; a replaced weights file is verified again by the load.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from .artifact import MODEL_JSON, WEIGHTS_FILE

Network = TypeVar("Network")
Fingerprint = tuple[str, str, int, int, int, int]


def folder_fingerprint(folder: Path) -> Fingerprint | None:
    """(the folder's real path, model.json's sha256, then the weights file's device, inode, size and
    modification time); None when model.json or the weights cannot be read, so that the load runs and
    says why."""
    try:
        text = (folder / MODEL_JSON).read_bytes()
        weights = json.loads(text).get("weights") or {}
        stat = os.stat(folder / str(weights.get("file") or WEIGHTS_FILE))
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    digest = hashlib.sha256(text).hexdigest()
    return str(folder.resolve()), digest, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


class NetworkCache(Generic[Network]):
    """One network (the folder last asked for), loaded on first use and again when another folder is
    asked for or the folder's fingerprint changed. Thread-safe; a load that fails is not kept."""

    def __init__(self, load: Callable[[Path], Network]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._held: tuple[Fingerprint, Network] | None = None

    def get(self, folder: Path) -> Network:
        fingerprint = folder_fingerprint(folder)
        with self._lock:
            if fingerprint is None or self._held is None or self._held[0] != fingerprint:
                network = self._load(folder)
                # Unreadable a moment ago but loaded now: nothing to compare with next time.
                self._held = None if fingerprint is None else (fingerprint, network)
                return network
            return self._held[1]

    @property
    def loaded(self) -> Network | None:
        """The network held now, if any (for tests of when networks are loaded)."""
        return None if self._held is None else self._held[1]

    def clear(self) -> None:
        with self._lock:
            self._held = None
