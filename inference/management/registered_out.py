"""What the commands that write a new artifact to --out share: a registered model's folder is refused."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from inference.registry import registered_in_folder


def refuse_registered_folder(out: str | Path) -> None:
    """Refuse `out` when a model is registered from it, whatever the folder holds now: even emptied,
    new weights there would not be the ones its record (perhaps the active model's) names."""
    registered = registered_in_folder(out)
    if registered is not None:
        raise CommandError(
            f"--out {out} is the folder of the registered model {registered}; new weights there would "
            "not be the ones its record names. Choose another --out and register the new folder as a "
            "new version."
        )
