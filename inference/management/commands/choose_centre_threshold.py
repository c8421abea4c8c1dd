"""`manage.py choose_centre_threshold MODEL_DIR --data DIR --recount FILE.csv [--thresholds T,T,...]
[--write] [--json]`.

A red-cell centre network's peak heights depend on its training run (two runs of one recipe wanted
0.175 and 0.275, docs/counting.md), so each network needs its own threshold. This scores the fused
red-cell count at each threshold against fields counted by eye and, with `--write`, stores the best
one as the artifact's `peak_threshold`, which the segmentation then uses.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.management.recount_choice import (
    add_choice_arguments,
    choice_record,
    number_list,
    report_choice,
)

# 0.05 to 0.5 in steps of 0.025: the shipped networks' best thresholds lie between 0.175 and 0.275.
DEFAULT_THRESHOLDS = tuple(round(0.05 + 0.025 * step, 3) for step in range(19))


class Command(BaseCommand):
    help = (
        "Choose a red-cell centre network's peak threshold: the fused count's RBC error against a "
        "recount at each threshold, the best stored in model.json with --write."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_choice_arguments(parser, "centre network")
        parser.add_argument(
            "--thresholds",
            type=functools.partial(number_list, low=0.0, high=1.0, inclusive=False),
            default=list(DEFAULT_THRESHOLDS),
            metavar="T,T,...",
            help="peak heights to try (default 0.05 to 0.5 in steps of 0.025)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.engine.counting import load_recount
        from inference.engine.errors import EngineError
        from inference.engine.red_cell_centres import CentreModel
        from inference.engine.red_cell_training import record_choice, threshold_errors

        try:
            model = CentreModel(options["model"])
            recount = load_recount(options["recount"])
            errors = threshold_errors(model, options["data"], recount, options["thresholds"])
        except EngineError as exc:
            raise CommandError(str(exc)) from exc
        # The lowest error; on a tie the lower threshold, which hears the network on more cells.
        best = min(errors, key=lambda threshold: (errors[threshold], threshold))
        choice = choice_record(options["recount"], recount, errors, best, model.peak_threshold)
        if options["write"]:
            record_choice(options["model"], "peak_threshold", best, choice)
        report_choice(self.stdout, choice, errors, options, "Peak threshold")
