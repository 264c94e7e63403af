"""python manage.py govai_calibrate DATASET_DIR [--target 0.05] [--gate-target 0.01] [--only answerability|similarity]
[--limit N] [--collection SLUG] [--dry-run] [--out report.json]"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.exceptions import GovAIError
from govai_plugin.services import answerability

ONLY = {"answerability": (answerability.KIND,), "similarity": (answerability.GATE_KIND,)}


def _rate(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate from 0 to 1 (e.g. 0.05 or 5%)")
    return value


class Command(BaseCommand):
    help = ("Calibrate the abstention thresholds per model on labelled questions (a BEIR folder whose queries.jsonl "
            "marks unanswerable ones with \"answerable\": false): ANSWERS.MIN_SIMILARITY for the embedding model "
            "(best dense similarity, before the model) and ANSWERS.ANSWERABILITY_THRESHOLD for the generation "
            "model (P(yes) of the answerability step, behind that gate). Each is the highest threshold whose false "
            "abstentions on answerable questions stay within the target; stored per model and used where the "
            "setting is 'auto'. Prints the table.")

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="folder with corpus.jsonl, queries.jsonl (answerable flags) and qrels/test.tsv")
        parser.add_argument("--target", type=_rate, default=0.05,
                            help="largest share of answerable questions allowed to abstain, gate included (default 0.05)")
        parser.add_argument("--gate-target", type=_rate, default=0.01,
                            help="the same for the retrieval gate MIN_SIMILARITY alone (default 0.01)")
        parser.add_argument("--only", choices=sorted(ONLY), help="calibrate only this threshold (default: both)")
        parser.add_argument("--limit", type=int, help="only the first N queries")
        parser.add_argument("--collection", help="scratch collection for the corpus (default: eval-<folder name>)")
        parser.add_argument("--dry-run", action="store_true", help="measure and print, store nothing")
        parser.add_argument("--out", help="write the JSON report here")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        bars = {}

        def progress(stage: str, done: int, total: int) -> None:
            if opts["no_progress"]:
                return
            if stage not in bars:
                from tqdm import tqdm

                bars[stage] = tqdm(total=total, unit="query", desc=stage, file=self.stderr._out, leave=False)
            bars[stage].update(done - bars[stage].n)

        if not Path(opts["dataset"]).is_dir():
            raise CommandError(f"{opts['dataset']} is not a folder (expected a BEIR folder with corpus.jsonl, "
                               "queries.jsonl and qrels/test.tsv).")
        kinds = ONLY[opts["only"]] if opts["only"] else (answerability.GATE_KIND, answerability.KIND)
        try:
            report = answerability.calibrate(opts["dataset"], target=opts["target"], gate_target=opts["gate_target"],
                                             limit=opts["limit"], collection=opts["collection"], kinds=kinds,
                                             store=not opts["dry_run"], progress=progress)
        except GovAIError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            for bar in bars.values():
                bar.close()
        if opts["out"]:
            try:
                Path(opts["out"]).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Cannot write {opts['out']}: {exc.strerror or exc}") from exc
        self.stdout.write(answerability.to_markdown(report))
