"""`manage.py fit_acquisition_check MODEL_DIR --data TRAIN_DIR --val VAL_DIR [--json]`.

Adds the focus and noise check (`inference/engine/acquisition.py`) to a classifier artifact made before
the check existed, or fits it again: a Mahalanobis model of the training fields' sharpness and noise,
and a threshold chosen on the validation fields that spends what the model's other checks left of the
2 % budget, so those checks and their thresholds stay as they were. The trust state in model.json and
the model card are updated; nothing else in the folder changes. Models trained from now on get the
check when their trust is fitted. When the folder is a registered model's, its record is brought up to
date as `register_model` would (audited), so activating it is not refused later.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.engine.cli_checks import positive_int
from inference.management.rewritten_model_json import record_in_registry, updated_message


class Command(BaseCommand):
    help = "Fit the focus and noise check of a classifier artifact on its training and validation folders."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", type=Path, help="the classifier artifact folder")
        parser.add_argument(
            "--data", type=Path, required=True, help="training folder, one sub-folder per class"
        )
        parser.add_argument(
            "--val", type=Path, required=True, help="validation folder, one sub-folder per class"
        )
        parser.add_argument("--batch-size", type=positive_int, default=32, metavar="N")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.acquisition_check import fit_acquisition_check
        from inference.engine.artifact import read_model_info, update_model_info
        from inference.engine.errors import EngineError
        from inference.engine.predictor import Predictor
        from inference.engine.trust import load_trust

        folder: Path = options["model"]
        try:
            info = read_model_info(folder)
            trust = load_trust(info.get("trust"), folder)
            if trust is None:
                raise CommandError(f"{folder} has no fitted trust state to add the check to.")
            fitted = fit_acquisition_check(
                Predictor.from_artifact(folder),
                trust,
                options["data"],
                options["val"],
                batch_size=options["batch_size"],
                show_progress=not options["json"],
            )
        except EngineError as exc:
            raise CommandError(str(exc)) from exc
        # The rest of the stored state (arrays file, thresholds) is kept as it is.
        state = dict(info["trust"])
        state["method"] = fitted.method()
        state["acquisition"] = fitted.acquisition_state()
        state["val_flagged_rate"] = fitted.val_flagged_rate
        state["val_accepted_accuracy"] = fitted.val_accepted_accuracy
        update_model_info(folder, trust=state)
        registration = record_in_registry(folder, "fit_acquisition_check", "The check")
        result = {
            "model": str(folder),
            "acquisition_threshold": fitted.acquisition_threshold,
            "val_flagged_rate": fitted.val_flagged_rate,
            "val_flagged_rate_before": trust.val_flagged_rate,
            "registered_version": str(registration.version.external_id) if registration else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(
            f"Focus and noise check fitted: threshold {fitted.acquisition_threshold:.4f}; validation "
            f"flagged {fitted.val_flagged_rate:.2%} (was {trust.val_flagged_rate:.2%})."
        )
        if message := updated_message(registration):
            self.stdout.write(message)
