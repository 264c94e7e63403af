"""X-Road from the command line: the grants we give, and the services other members offer.

    manage.py govai_xroad grants
    manage.py govai_xroad list-clients
    manage.py govai_xroad list-methods EE/GOV/70000001/govai [--allowed] [--soap]
    manage.py govai_xroad openapi EE/GOV/70000001/govai/assistant
    manage.py govai_xroad wsdl EE/GOV/70000001/govai/askAssistant [--out FILE]
    manage.py govai_xroad rest POST EE/GOV/70000001/govai/assistant answers --json '{"question": "..."}'
    manage.py govai_xroad soap EE/GOV/70000001/govai/askAssistant --wsdl FILE --arg question=... [--arg collection=a]

The Security Server and our client id come from GOVAI["XROAD"]; ``--security-server``
and ``--client`` override them for one call.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from adapters.xroad.consumer import XRoadConsumer, XRoadError
from adapters.xroad.identifiers import IdentifierError
from adapters.xroad.models import XRoadClient
from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import ConfigurationError


class Command(BaseCommand):
    help = "X-Road: list our grants; discover and call other members' services through the Security Server."

    def add_arguments(self, parser):
        parser.add_argument("--security-server", default=None, help="Security Server URL (default: settings)")
        parser.add_argument("--client", default=None, help="our client id INSTANCE/CLASS/MEMBER/SUBSYSTEM (default: settings)")
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("grants", help="X-Road clients allowed to use our services")
        sub.add_parser("list-clients", help="members and subsystems the Security Server knows")
        methods = sub.add_parser("list-methods", help="services of a provider subsystem")
        methods.add_argument("provider")
        methods.add_argument("--allowed", action="store_true", help="only those we may call (allowedMethods)")
        methods.add_argument("--soap", action="store_true", help="SOAP services (default: REST)")
        openapi = sub.add_parser("openapi", help="the OpenAPI description of a REST service")
        openapi.add_argument("service")
        wsdl = sub.add_parser("wsdl", help="the WSDL of a SOAP service")
        wsdl.add_argument("service")
        wsdl.add_argument("--out", default=None)
        rest = sub.add_parser("rest", help="call a REST service")
        rest.add_argument("method")
        rest.add_argument("service")
        rest.add_argument("path", nargs="?", default="")
        rest.add_argument("--json", default=None, help="request body (JSON text)")
        rest.add_argument("--user-id", default="")
        rest.add_argument("--issue", default="")
        soap = sub.add_parser("soap", help="call a SOAP service with zeep")
        soap.add_argument("service")
        soap.add_argument("--wsdl", required=True, help="WSDL file or URL (see the wsdl action)")
        soap.add_argument("--arg", action="append", default=[], help="name=value (repeat for lists)")
        soap.add_argument("--user-id", default="")
        soap.add_argument("--issue", default="")

    def handle(self, *args, action, **options):
        if action == "grants":
            for row in XRoadClient.objects.select_related("api_client"):
                slugs = ", ".join(row.api_client.collections.values_list("slug", flat=True)) or "-"
                state = "active" if row.is_active else "disabled"
                source = "settings" if row.from_settings else "admin"
                self.stdout.write(f"{row.identifier}\t{','.join(row.services) or '-'}\t{slugs}\t{state}\t{source}")
            return
        try:
            consumer = self._consumer(options)
            self._run(consumer, action, options)
        except (XRoadError, ConfigurationError, IdentifierError) as exc:
            raise CommandError(str(exc)) from exc

    def _consumer(self, options) -> XRoadConsumer:
        cfg = govai_settings.XROAD
        consumer = XRoadConsumer.from_settings() if not (options["security_server"] or options["client"]) else None
        if consumer is None:
            consumer = XRoadConsumer(options["security_server"] or cfg["SECURITY_SERVER_URL"],
                                     options["client"] or cfg["CLIENT_ID"], timeout=float(cfg["TIMEOUT"]),
                                     verify=cfg["VERIFY_TLS"])
        return consumer

    def _run(self, consumer: XRoadConsumer, action: str, options) -> None:
        out = self.stdout
        if action == "list-clients":
            out.write(json.dumps(consumer.list_clients(), indent=2))
        elif action == "list-methods":
            if options["soap"]:
                for service in consumer.soap_list_methods(options["provider"], allowed=options["allowed"]):
                    out.write(str(service))
            else:
                for entry in consumer.list_methods(options["provider"], allowed=options["allowed"]):
                    endpoints = " ".join(f"{e['method']} {e['path']}" for e in entry["endpoint_list"])
                    out.write(f"{entry['service_id']}\t{entry['service_type']}\t{endpoints}")
        elif action == "openapi":
            out.write(consumer.get_openapi(options["service"]))
        elif action == "wsdl":
            content = consumer.get_wsdl(options["service"])
            if options["out"]:
                with open(options["out"], "wb") as f:
                    f.write(content)
            else:
                sys.stdout.buffer.write(content)
        elif action == "rest":
            try:
                body = json.loads(options["json"]) if options["json"] else None
            except json.JSONDecodeError as exc:
                raise CommandError(f"--json is not valid JSON: {exc}") from None
            response = consumer.rest(options["method"].upper(), options["service"], options["path"], json=body,
                                     user_id=options["user_id"], issue=options["issue"])
            out.write(f"HTTP {response.status_code}")
            out.write(response.text)
        elif action == "soap":
            arguments: dict = {}
            for item in options["arg"]:
                name, sep, value = item.partition("=")
                if not sep or not name:
                    raise CommandError(f"--arg {item!r}: use name=value.")
                if name in arguments:
                    arguments[name] = (arguments[name] if isinstance(arguments[name], list) else [arguments[name]]) + [value]
                else:
                    arguments[name] = value
            from zeep.helpers import serialize_object

            result = consumer.soap_call(options["wsdl"], options["service"], user_id=options["user_id"],
                                        issue=options["issue"], **arguments)
            out.write(json.dumps(serialize_object(result, dict), indent=2, default=str, ensure_ascii=False))
