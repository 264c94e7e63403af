"""A case-management system stand-in on 127.0.0.1 that follows the generic webhook/REST
contract in docs/cases.md: ``GET /api/cases/{id}`` gives a case, ``POST
/api/cases/{id}/suggestions`` stores a suggestion and honours ``Idempotency-Key`` (the same
key returns the first answer and stores nothing new). It can sign and send events to the
assistant's webhook, and be told to fail writes (``fail_writes`` times with 503, or
``reject_writes`` with 422)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class CaseSystem(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, secret: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret = secret
        self.cases: dict[str, dict] = {}
        self.suggestions: dict[str, list[dict]] = {}
        self.by_key: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.fail_writes = 0
        self.reject_writes = False
        #: external ref -> {"action", "reviewer", "text", "reason"}: decisions taken in this system
        self.decisions: dict[str, dict] = {}
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def send_event(self, webhook_url: str, event: dict, *, event_id: str | None = None, timestamp: int | None = None,
                   secret: str | None = None) -> requests.Response:
        body = json.dumps(event).encode()
        event_id = event_id or str(uuid.uuid4())
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        mac = hmac.new((secret or self.secret).encode(), f"{stamp}.{event_id}.".encode() + body, hashlib.sha256).hexdigest()
        return requests.post(webhook_url, data=body, timeout=10, headers={
            "Content-Type": "application/json", "X-GovAI-Timestamp": stamp, "X-GovAI-Event-Id": event_id,
            "X-GovAI-Signature": f"sha256={mac}"})

    def __enter__(self) -> CaseSystem:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CaseSystem

    def log_message(self, *args):
        pass

    def _parts(self) -> list[str]:
        return [p for p in self.path.split("?")[0].split("/") if p]

    def do_GET(self):
        parts = self._parts()
        self.server.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
        if len(parts) == 3 and parts[:2] == ["api", "cases"] and parts[2] in self.server.cases:
            return self._json(200, self.server.cases[parts[2]])
        if len(parts) == 6 and parts[3] == "suggestions" and parts[5] == "decision" and parts[4] in self.server.decisions:
            return self._json(200, self.server.decisions[parts[4]])
        return self._json(404, {"detail": "no such case"})

    def do_POST(self):
        parts = self._parts()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers.get("Idempotency-Key", "")
        self.server.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body})
        if not (len(parts) == 4 and parts[:2] == ["api", "cases"] and parts[3] == "suggestions"):
            return self._json(404, {"detail": "unknown path"})
        if parts[2] not in self.server.cases:
            return self._json(404, {"detail": "no such case"})
        if self.server.fail_writes > 0:
            self.server.fail_writes -= 1
            return self._json(503, {"detail": "maintenance"})
        if self.server.reject_writes:
            return self._json(422, {"detail": "suggestions are closed for this case"})
        if not key:
            return self._json(400, {"detail": "Idempotency-Key is required"})
        if key in self.server.by_key:
            return self._json(200, self.server.by_key[key])
        stored = {"id": f"note-{len(self.server.by_key) + 1}", "suggestion": json.loads(body)}
        self.server.by_key[key] = stored
        self.server.suggestions.setdefault(parts[2], []).append(stored)
        self._json(201, stored)

    def _json(self, status: int, data) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
