"""The options `calibrate_stain` and `calibrate_scale` share: the laboratory's fields, the file to write
(refused before any work when it cannot be written, or exists without --force), a perturbation to try,
and JSON output."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_calibration_arguments(parser: argparse.ArgumentParser, perturb_help: str) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder of the laboratory's fields (any depth)",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.json", help="calibration to write")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.add_argument("--perturb", default=None, help=perturb_help)
    parser.add_argument("--json", action="store_true", help="print only the result, as JSON")
