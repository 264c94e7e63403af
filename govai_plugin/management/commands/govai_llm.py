"""python manage.py govai_llm start|status|stop [--model NAME]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from govai_plugin.conf import govai_settings
from govai_plugin.embedded import data_dir
from govai_plugin.embedded import llm
from govai_plugin.exceptions import GovAIError


class Command(BaseCommand):
    help = "Start, check or stop the embedded llama-server used when GOVAI['LLM']['BASE_URL'] is empty."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "status", "stop"])
        parser.add_argument("--model", default=None, help=f"auto, {', '.join(sorted(llm.MODELS))} (default: GOVAI setting).")

    def handle(self, *args, **opts):
        folder = data_dir(govai_settings.DATA_DIR or None) / "llm"
        cfg = govai_settings.LLM
        if cfg["BASE_URL"] and opts["action"] != "stop":
            self.stdout.write(f"A server is configured (GOVAI['LLM']['BASE_URL'] = {cfg['BASE_URL']}); the embedded one is not used.")
        if opts["action"] == "start":
            try:
                state = llm.ensure_running(folder, opts["model"] or cfg["EMBEDDED_MODEL"], cfg["EMBEDDED_THREADS"], cfg["EMBEDDED_CONTEXT"])
            except GovAIError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"llama-server running: {state['url']} model {state['model']} (pid {state['pid']})")
        elif opts["action"] == "status":
            state = llm.status(folder)
            if state is None:
                self.stdout.write("llama-server: not running")
                raise SystemExit(3)
            self.stdout.write(f"llama-server running: {state['url']} model {state['model']} (pid {state['pid']})")
        else:
            self.stdout.write("llama-server stopped" if llm.stop(folder) else "llama-server was not running")
