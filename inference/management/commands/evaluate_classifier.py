"""`manage.py evaluate_classifier [--model PATH_OR_VERSION] --data DIR [--out FILE.json] [--plots DIR]`.

Thin wrapper of `inference.engine.evaluation` (same options as `python -m inference.engine.evaluation`);
without --model it evaluates the active registered model; an existing --out is replaced only with
--force. TensorFlow is imported only when the command runs, never when Django loads commands.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.models import ModelVersion
from inference.registry import active_model, artifact_path, find_version


def resolve_model(reference: str | None) -> Path:
    """A folder path, a registered version (see `activate_model`), or the active model."""
    if reference is None:
        version = active_model()
        if version is None:
            raise CommandError("No model is active: pass --model, or register and activate one.")
        return artifact_path(version)
    path = Path(reference)
    if path.is_dir():
        return path
    if any(sep in reference for sep in ("/", "\\", os.sep)) or reference.startswith("."):
        # Meant as a folder, not a registered version: say what is wrong with it.
        problem = "is not a folder" if path.exists() else "does not exist"
        raise CommandError(
            f"Model folder {reference!r} {problem}; give a model folder (model.json and weights), or a "
            "registered version (`manage.py list_models`)."
        )
    try:
        return artifact_path(find_version(reference))
    except ModelVersion.DoesNotExist as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = (
        "Evaluate a classifier on a folder with one sub-folder per class (Benign/Early/Pre/Pro or class "
        "codes): accuracy, F1, kappa, ECE, per-class figures, flagged rate. --perturb hue=N rotates hue "
        "by N degrees before preprocessing (also saturation=, brightness=, exposure=, haematoxylin=, eosin=, "
        "blur=, scale=, noise=, jpeg=, tile=); --unlabelled screens plain images; --cells scores per-cell "
        "calls (--limit N: the first N images, classes interleaved; --limit applies to --cells only)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from inference.engine.evaluation import add_arguments

        add_arguments(parser, model_required=False)

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.errors import EngineError
        from inference.engine.evaluation import report_json, run_evaluation, summary

        try:
            report = run_evaluation(
                resolve_model(options["model"]),
                options["data"],
                perturb=options["perturb"],
                unlabelled=options["unlabelled"],
                cells=options["cells"],
                limit=options["limit"],
                cell_method=options["cell_method"],
                plots_dir=options["plots"],
                output=options["out"],
                batch_size=options["batch_size"],
                force=options["force"],
            )
        except (EngineError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report_json(summary(report)))
