"""`manage.py choose_radius_factor MODEL_DIR --data DIR --recount FILE.csv [--factors F,F,...] [--write]
[--json]`.

The radius network learned the size of one laboratory's red-cell boxes; how a box's half-size maps to
the radius the segmentation wants depends on how the boxes were drawn and on the smears. This scores
the learned-radius count (`SegmentationParams(learned_radius=True)`) at each factor against fields
counted by eye and, with `--write`, stores the best as the artifact's `radius_factor`; the network
scored is the one in MODEL_DIR, whatever `MARROWFIND_RADIUS_MODEL_DIR` names.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.engine.red_cell_radius import FACTOR_RANGE
from inference.management.recount_choice import (
    add_choice_arguments,
    choice_record,
    number_list,
    report_choice,
)

DEFAULT_FACTORS = (0.74, 0.77, 0.8, 0.83, 0.86, 0.89, 0.92)


class Command(BaseCommand):
    help = (
        "Choose the radius network's radius factor: the learned-radius count's RBC error against a "
        "recount at each factor, the best stored in model.json with --write."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_choice_arguments(parser, "radius network")
        low, high = FACTOR_RANGE
        parser.add_argument(
            "--factors",
            type=functools.partial(number_list, low=low, high=high, inclusive=True),
            default=list(DEFAULT_FACTORS),
            metavar="F,F,...",
            help="factors to try (default 0.74 to 0.92 in steps of 0.03)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.counting import load_recount
        from inference.engine.errors import EngineError
        from inference.engine.red_cell_radius import RadiusModel
        from inference.engine.red_cell_radius_training import factor_errors
        from inference.engine.red_cell_training import record_choice

        try:
            model = RadiusModel(options["model"])
            recount = load_recount(options["recount"])
            errors = factor_errors(options["data"], recount, options["factors"], model=model)
        except EngineError as exc:
            raise CommandError(str(exc)) from exc
        # The lowest error; on a tie the factor nearer 1.
        best = min(errors, key=lambda factor: (errors[factor], abs(factor - 1)))
        choice = choice_record(options["recount"], recount, errors, best, model.factor)
        if options["write"]:
            record_choice(options["model"], "radius_factor", best, choice)
        report_choice(self.stdout, choice, errors, options, "Radius factor")
