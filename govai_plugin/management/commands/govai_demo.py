"""python manage.py govai_demo: the sample corpus in, a sample search out, an API key to try."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from govai_plugin.models import ApiClient, Collection
from govai_plugin.services.access import create_collection, grant

SAMPLE_QUESTION = "How long does the department take to decide on a housing benefit application?"
SAMPLE_ANSWER_QUESTION = "Is child benefit counted as income for the housing benefit?"
# The same kind of question in German: the sources that answer it are in English (and Estonian).
SAMPLE_CROSS_LINGUAL_QUESTION = "Wie lange dauert die Entscheidung über einen Antrag auf Wohngeld?"


class Command(BaseCommand):
    help = "Ingest fixtures/corpus into the 'sample' collection, run a sample search and create a demo API client."

    def add_arguments(self, parser):
        parser.add_argument("--corpus", default=str(Path(settings.BASE_DIR) / "fixtures" / "corpus"))
        parser.add_argument("--question", default=SAMPLE_QUESTION)
        parser.add_argument("--answer-question", default=SAMPLE_ANSWER_QUESTION)
        parser.add_argument("--cross-lingual-question", default=SAMPLE_CROSS_LINGUAL_QUESTION,
                            help="asked after the first answer, in another language than the sources ('' to skip)")

    def handle(self, *args, **opts):
        if not Collection.objects.filter(slug="sample").exists():
            create_collection("sample", "Sample corpus", "Northbridge sample policies, FAQ and regulations (en, et).")
        self.stdout.write(self.style.MIGRATE_HEADING("1. Ingesting the sample corpus"))
        try:
            call_command("govai_ingest", opts["corpus"], collection="sample", no_progress=True, stdout=self.stdout, stderr=self.stderr)
        except SystemExit:
            self.stderr.write("some sample documents failed (see above)")
        self.stdout.write(self.style.MIGRATE_HEADING(f"\n2. Searching: {opts['question']}"))
        call_command("govai_search", opts["question"], collections=["sample"], top_k=3, stdout=self.stdout)
        self.stdout.write(self.style.MIGRATE_HEADING("\n3. Starting the local model server and a Celery worker"))
        from govai_plugin.conf import govai_settings
        from govai_plugin.embedded import data_dir, worker

        folder = data_dir(govai_settings.DATA_DIR or None)
        if not govai_settings.LLM["BASE_URL"]:
            call_command("govai_llm", "start", stdout=self.stdout)
        self.stdout.write(f"Celery worker running (pid {worker.start(folder / 'worker')}); log: {folder / 'worker' / 'worker.log'}")
        self.stdout.write(self.style.MIGRATE_HEADING(f"\n4. Asking: {opts['answer_question']}"))
        # The raw stream: a second OutputWrapper would end every streamed fragment with a newline.
        call_command("govai_ask", opts["answer_question"], collections=["sample"], timeout=600, stdout=self.stdout._out)
        step = 5
        if opts["cross_lingual_question"]:
            self.stdout.write(self.style.MIGRATE_HEADING(
                f"\n5. Asking in another language than the sources: {opts['cross_lingual_question']}"))
            call_command("govai_ask", opts["cross_lingual_question"], collections=["sample"], timeout=600,
                         stdout=self.stdout._out)
            step = 6
        self.stdout.write(self.style.MIGRATE_HEADING(f"\n{step}. An API client for the sample collection"))
        ApiClient.objects.filter(name="demo").delete()
        client, key = ApiClient.create_with_key("demo")
        grant(client, Collection.objects.get(slug="sample"))
        self.stdout.write(
            "Try the API (served next at http://127.0.0.1:8000):\n"
            f"  curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
            f"       -d '{{\"query\": \"Is child benefit counted as income?\"}}' http://127.0.0.1:8000/api/v1/search\n"
            f"  curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
            f"       -d '{{\"question\": \"What is the income limit for a single adult?\"}}' 'http://127.0.0.1:8000/api/v1/answers?wait=60'\n"
            "  OpenAPI schema: http://127.0.0.1:8000/api/v1/schema\n"
            "  Transparency report (public): http://127.0.0.1:8000/api/v1/transparency\n"
        )
