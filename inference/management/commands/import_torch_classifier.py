"""`manage.py import_torch_classifier RUN_DIR --data DIR --val DIR --out models/NAME`.

Turns a run of `tools/train_resnet50_gpu.py` (a ResNet50 trained with PyTorch on a GPU machine
that has no TensorFlow) into a Marrow-Find artifact: the weights go into the Keras graph by layer
name, the Keras model must reproduce the run's val predictions, then the artifact is evaluated and
written and its trust fitted exactly as `train_classifier` does. Register it with `register_model`.
As there, a registered model's folder is refused as --out, even emptied.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.management.registered_out import refuse_registered_folder


class Command(BaseCommand):
    help = (
        "Write a model artifact from a PyTorch ResNet50 run of tools/train_resnet50_gpu.py: convert the "
        "weights, check that Keras reproduces the run's val predictions, evaluate, fit trust."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_dir", help="the run's output folder (summary.json, weights_part*.npz)")
        parser.add_argument("--data", "--train", dest="train", required=True, help="training folder")
        parser.add_argument("--val", required=True, help="validation folder the run selected on")
        parser.add_argument("--out", required=True, help="artifact folder to write")
        parser.add_argument("--name", help="model name in model.json (default: the --out folder name)")
        parser.add_argument("--weights-dtype", default="float16", choices=("float32", "float16"))
        parser.add_argument("--no-trust", action="store_true", help="do not fit calibration/OOD statistics")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.errors import EngineError
        from inference.engine.torch_import import import_torch_run
        from inference.management.engine_log import show_engine_log

        show_engine_log()
        refuse_registered_folder(options["out"])  # before the run is read or any image loaded
        if sys.argv[1:2] == ["import_torch_classifier"]:
            command = f"python manage.py import_torch_classifier {shlex.join(sys.argv[2:])}"
        else:
            command = "call_command('import_torch_classifier', ...)"
        try:
            info = import_torch_run(
                options["run_dir"],
                train_dir=options["train"],
                val_dir=options["val"],
                out_dir=options["out"],
                command=command,
                name=options["name"],
                weights_dtype=options["weights_dtype"],
                fit_trust=not options["no_trust"],
            )
        except (EngineError, OSError, KeyError, ValueError) as exc:
            raise CommandError(f"Cannot import {options['run_dir']}: {exc}") from exc
        val = info["metrics"]["val"]
        self.stdout.write(
            f"Wrote {options['out']} (weights sha256 {info['weights']['sha256']}); val accuracy "
            f"{val['accuracy']:.4f}, F1 {val['f1_weighted']:.4f}, kappa {val['kappa']:.4f}."
        )
