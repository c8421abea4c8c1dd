"""Command line for training a classifier artifact (also behind `manage.py train_classifier`).

Example (from the project root):

    python -m inference.engine.train_cli --train ../shared/data/all4/train --val ../shared/data/all4/val \
        --backbone mobilenet --weights ../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5 \
        --preset robust --run-dir runs/mobilenet-v1 --out models/marrowfind-mobilenet-v1

Re-run the same command with `--resume` to continue from the last checkpoint in `--run-dir` (with
a new `--out` where the run wrote its artifact). A resume may raise `--epochs`: the learning rate
goes on down from where it was. `--max-minutes` is each invocation's own budget.
`--fit-trust-only` (re)fits calibration/OOD statistics of an existing `--out` folder.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from .backbones import backbone_names
from .cli_checks import check_output_folder, non_negative_int, positive_float, positive_int
from .errors import EngineError

ENGINE_COMMAND = "python -m inference.engine.train_cli"


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", "--train", dest="train", metavar="DIR", help="training folder, one sub-folder per class"
    )
    parser.add_argument("--val", required=True, help="validation folder (model selection), same layout")
    parser.add_argument(
        "--out", required=True, help="artifact folder to write, e.g. models/marrowfind-mobilenet-v1"
    )
    parser.add_argument("--run-dir", help="checkpoints and history (default: runs/<name of --out>)")
    parser.add_argument("--backbone", default="mobilenet", choices=backbone_names())
    parser.add_argument(
        "--weights",
        default="imagenet",
        help="backbone starting weights: 'imagenet' (download), a local .h5 file, or 'none'",
    )
    parser.add_argument("--preset", default="robust", choices=("seed", "robust"))
    parser.add_argument(
        "--epochs", type=positive_int, help="epochs of the main phase, at least 1 (preset default otherwise)"
    )
    parser.add_argument(
        "--head-epochs",
        type=non_negative_int,
        help="robust preset: epochs with the backbone frozen (0: none)",
    )
    parser.add_argument("--lr", type=positive_float, help="learning rate of the main phase")
    parser.add_argument(
        "--batch-size", type=positive_int, help="images per step (preset default: 32, 16 for resnet50)"
    )
    parser.add_argument("--patience", type=positive_int, help="early stopping patience on val (epochs)")
    parser.add_argument(
        "--max-minutes",
        type=positive_float,
        help="wall time of this invocation: stop after the epoch that passes it (--resume continues, "
        "with the whole budget again)",
    )
    parser.add_argument(
        "--train-batchnorm",
        action="store_true",
        help="robust preset: update BatchNorm statistics while fine-tuning pretrained weights",
    )
    parser.add_argument("--seed", type=non_negative_int, default=42)
    parser.add_argument(
        "--threads", type=positive_int, help="TensorFlow intra-op threads (default: all cores)"
    )
    parser.add_argument("--weights-dtype", default="float32", choices=("float32", "float16"))
    parser.add_argument("--name", help="model name in model.json (default: the --out folder name)")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in --run-dir"
    )
    parser.add_argument("--no-trust", action="store_true", help="do not fit calibration/OOD statistics")
    parser.add_argument(
        "--fit-trust-only", action="store_true", help="only (re)fit trust of the --out artifact"
    )
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")


def run(args: argparse.Namespace, command: str) -> dict[str, Any] | None:
    from pathlib import Path

    from .datasets import refuse_val_images_in_train
    from .training import fit_trust_for_artifact, preset_config, train_from_folders

    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.fit_trust_only:
        if not args.train:
            raise SystemExit(
                "--data is required to fit trust (OOD statistics come from the training images)."
            )
        trust = fit_trust_for_artifact(args.out, args.train, args.val)
        return {"trust": trust}
    if not args.train:
        raise SystemExit("--data (training folder) is required unless --fit-trust-only is given.")
    run_dir = args.run_dir or str(Path("runs") / Path(args.out).name)
    # Before the images are loaded (minutes) and trained on (hours), not when the artifact is written.
    check_output_folder(args.out, "--out")
    check_output_folder(run_dir, "--run-dir")
    # Model selection on images it trains on picks the most over-fitted epoch, and says it is good.
    refuse_val_images_in_train(args.train, args.val)
    config = preset_config(
        args.preset,
        backbone=args.backbone,
        weights=args.weights,
        epochs=args.epochs,
        head_epochs=args.head_epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        max_minutes=args.max_minutes,
        patience=args.patience,
        train_batchnorm=True if args.train_batchnorm else None,
    )
    return train_from_folders(
        train_dir=args.train,
        val_dir=args.val,
        out_dir=args.out,
        run_dir=run_dir,
        config=config,
        command=command,
        name=args.name,
        resume=args.resume,
        weights_dtype=args.weights_dtype,
        fit_trust=not args.no_trust,
        progress=not args.no_progress,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog=ENGINE_COMMAND, description=__doc__.splitlines()[0] if __doc__ else None
    )
    add_training_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The command as typed, minus --resume, so model.json shows how to reproduce the model.
    try:
        run(args, f"{ENGINE_COMMAND} {shlex.join(a for a in argv if a != '--resume')}")
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
