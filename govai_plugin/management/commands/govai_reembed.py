"""python manage.py govai_reembed [--collection SLUG] [--batch N]"""

from __future__ import annotations

from argparse import ArgumentTypeError

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.exceptions import GovAIError
from govai_plugin.models import Collection
from govai_plugin.services.reembed import pending, reembed


def _positive(value: str) -> int:
    if not value.strip().isdigit() or int(value) < 1:
        raise ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


class Command(BaseCommand):
    help = (
        "Re-embed stored chunks with the configured embedding model (GOVAI['EMBEDDINGS']), in place and in "
        "batches, without re-extracting documents. Resumable: run it again after an interruption. A dimension "
        "change re-embeds into a staging column, then swaps it in and rebuilds the HNSW index (docs/search.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", help="Only this collection's chunks (not with a dimension change).")
        parser.add_argument("--batch", type=_positive, default=64, help="Chunks per batch and transaction (default 64).")
        parser.add_argument("--max-batches", type=_positive, help="Stop after this many batches; rerun to go on.")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, **opts):
        collection = None
        if opts["collection"]:
            collection = Collection.objects.filter(slug=opts["collection"]).first()
            if collection is None:
                raise CommandError(f"No collection {opts['collection']!r} (see `govai_collection list`).")
        bar, done = None, []

        def on_batch(count: int) -> None:
            done.append(count)
            if bar is not None:
                bar.update(count)

        try:
            total = pending(collection)
            if not opts["no_progress"] and total:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="chunk", desc="re-embed", file=self.stderr._out, leave=False)
            report = reembed(collection, batch_size=opts["batch"], max_batches=opts["max_batches"], on_batch=on_batch)
        except GovAIError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            raise CommandError(f"Interrupted after {sum(done)} chunks (each finished batch is kept): "
                               "run the same command again to go on.", returncode=130) from None
        finally:
            if bar is not None:
                bar.close()
        swapped = " (dimension changed: column swapped, HNSW index rebuilt)" if report.dimension_changed and not report.remaining else ""
        self.stdout.write(
            f"{report.chunks} chunks re-embedded with {report.signature} in {report.batches} batches; "
            f"{report.remaining} remaining{swapped}"
        )
