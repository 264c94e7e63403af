"""python manage.py govai_eval DATASET_DIR [--collection SLUG] [--mode hybrid|dense|fulltext] [--generate]
[--limit N] [--out report.json]"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.exceptions import GovAIError
from govai_plugin.services import evaluation


class Command(BaseCommand):
    help = ("Evaluate retrieval (nDCG@10, Recall@1/5/10/100, MRR@10 per mode; nDCG@10 and Recall@10 per query "
            "language when queries carry one) and, with --generate, answers "
            "(exact match, token F1, citation precision/recall, abstention, sentence support, latency) on a "
            "BEIR-format folder, with 95% bootstrap intervals. Writes a JSON report and prints a Markdown table.")

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="folder with corpus.jsonl, queries.jsonl and qrels/test.tsv")
        parser.add_argument("--collection", help="scratch collection for the corpus (default: eval-<folder name>)")
        parser.add_argument("--mode", action="append", choices=evaluation.MODES,
                            help="retrieval mode to score; repeat for several (default: all three)")
        parser.add_argument("--generate", action="store_true", help="also answer every query with the configured model")
        parser.add_argument("--limit", type=int, help="only the first N queries")
        parser.add_argument("--out", help="write the JSON report here (and the Markdown table beside it, .md)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        bar = None

        def progress(stage: str, done: int, total: int) -> None:
            nonlocal bar
            if opts["no_progress"]:
                return
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="query", desc=stage, file=self.stderr._out, leave=False)
            bar.update(done - bar.n)

        try:
            report = evaluation.evaluate(opts["dataset"], collection=opts["collection"],
                                         modes=tuple(opts["mode"] or evaluation.MODES), generate=opts["generate"],
                                         limit=opts["limit"], progress=progress)
        except GovAIError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        table = evaluation.to_markdown(report)
        if opts["out"]:
            out = Path(opts["out"])
            try:
                out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
                out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Cannot write {out}: {exc.strerror or exc}") from exc
        self.stdout.write(table)
