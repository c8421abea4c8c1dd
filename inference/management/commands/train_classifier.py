"""`manage.py train_classifier --train DIR --val DIR --out models/NAME [--backbone ...] [--resume]`.

Thin wrapper of `inference.engine.train_cli` (same options as `python -m inference.engine.train_cli`).
TensorFlow is imported only when the command runs, never when Django loads commands. The artifact
it writes is registered separately (`manage.py register_model`). A registered model's folder is refused
as --out, even emptied: new weights there would not be the ones its record (perhaps the active model's)
names. `--fit-trust-only` keeps the weights, so a registered folder's record takes the new model.json
(audited), as `register_model` would record it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.engine.errors import EngineError
from inference.management.registered_out import refuse_registered_folder
from inference.management.rewritten_model_json import record_in_registry, updated_message

_DJANGO_OPTIONS = {
    "verbosity",
    "settings",
    "pythonpath",
    "traceback",
    "no_color",
    "force_color",
    "skip_checks",
}


class Command(BaseCommand):
    help = (
        "Train the image classifier on a folder with one sub-folder per class (Benign/Early/Pre/Pro or "
        "class codes), select on --val, and write a model artifact (weights, model.json, MODEL_CARD.md). "
        "Presets: robust (default; two phases, colour/stain augmentation, early stopping) or seed "
        "(Adam 1e-6, 25 epochs). Checkpoints go to --run-dir each epoch; --resume continues."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from inference.engine.train_cli import add_training_arguments

        add_training_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.train_cli import run
        from inference.management.engine_log import show_engine_log

        show_engine_log()
        if sys.argv[1:2] == ["train_classifier"]:
            typed = [arg for arg in sys.argv[2:] if arg != "--resume"]
            command = f"python manage.py train_classifier {shlex.join(typed)}"
        else:
            command = "call_command('train_classifier', ...)"
        namespace = argparse.Namespace(**{k: v for k, v in options.items() if k not in _DJANGO_OPTIONS})
        try:
            if not options["fit_trust_only"]:  # never overwrite an artifact; refused before any work
                from pathlib import Path

                from inference.engine.artifact import check_new_artifact_folder

                refuse_registered_folder(options["out"])
                run_dir = (
                    options["run_dir"] or Path("runs") / Path(options["out"]).name
                )  # train_cli's default
                check_new_artifact_folder(options["out"], run_dir=run_dir)
            info = run(namespace, command)
        except EngineError as exc:
            raise CommandError(str(exc)) from exc
        if options["fit_trust_only"]:  # the weights are kept: a registered folder's record takes the trust
            registration = record_in_registry(options["out"], "train_classifier", "The trust")
            if message := updated_message(registration):
                self.stdout.write(message)
        if info and "weights" in info:
            val = info.get("metrics", {}).get("val", {})
            figures = ", ".join(
                f"{key} {val[key]:.4f}" for key in ("accuracy", "f1_weighted", "kappa") if key in val
            )
            self.stdout.write(
                f"Wrote {options['out']} (weights sha256 {info['weights']['sha256']}); val {figures}."
            )
        elif info is not None:
            self.stdout.write("Trust fitted." if info.get("trust") else "Trust not fitted.")
