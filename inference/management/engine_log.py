"""Let a management command show the engine's progress messages on stderr."""

from __future__ import annotations

import logging
import sys


def show_engine_log() -> None:
    """INFO messages of `inference.engine` go to stderr unless logging is configured already."""
    engine_log = logging.getLogger("inference.engine")
    engine_log.setLevel(logging.INFO)
    if not engine_log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        engine_log.addHandler(handler)
