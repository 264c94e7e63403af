"""The remote embeddings plugin against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from govai_plugin.exceptions import EmbeddingError, EmbeddingServiceUnavailable
from govai_plugin.services.ingest import ingest_bytes
from govai_plugin.services.search import search


class EmbeddingsServer(ThreadingHTTPServer):
    """Speaks POST /v1/embeddings like TEI's OpenAI route; ``mode`` injects faults."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "ok"
        self.requests: list[dict] = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        mode = self.server.mode
        if mode == "500":
            return self._send(500, b'{"error": "overloaded"}')
        if mode == "garbage":
            return self._send(200, b"<html>proxy error</html>")
        if mode == "400":
            return self._send(400, b'{"error": "input too long"}')
        dims = 12 if mode == "wrong-dims" else 384
        data = []
        for i, text in enumerate(body["input"]):
            vector = [0.0] * dims
            for word in text.lower().split():
                vector[hash(word.strip(".,?")) % dims] += 1.0
            data.append({"object": "embedding", "index": i, "embedding": vector})
        self._send(200, json.dumps({"object": "list", "data": list(reversed(data)), "model": body["model"]}).encode())

    def _send(self, code, payload):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def server(settings):
    srv = EmbeddingsServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    settings.GOVAI = {"EMBEDDINGS": {"BACKEND": "openai", "URL": srv.url, "MODEL": "bge-small", "API_KEY": "s3cret", "TIMEOUT": 5.0}}
    yield srv
    srv.shutdown()


def test_ingest_and_search_through_the_remote_service(server, collection):
    ingest_bytes(collection, "a.md", b"# A\n\n## Parking\n\nParking permits cost 60 euros.\n\n## Library\n\nLibrary cards are free.\n")
    hits = search("library cards", collections=["scratch"], mode="dense").hits
    assert "Library cards" in hits[0].text  # vectors came back in the right order despite the shuffled reply
    first = server.requests[0]
    assert first["path"] == "/v1/embeddings" and first["auth"] == "Bearer s3cret" and first["model"] == "bge-small"
    assert len(first["input"]) == 2 and server.requests[-1]["input"] == ["library cards"]


@pytest.mark.parametrize(
    "mode, error, words",
    [
        ("500", EmbeddingServiceUnavailable, "HTTP 500"),
        ("garbage", EmbeddingError, "not an embeddings list"),
        ("400", EmbeddingError, "refused"),
        ("wrong-dims", EmbeddingError, "12-dimensional"),
    ],
)
def test_faults_map_to_our_errors(server, collection, mode, error, words):
    from govai_plugin.hooks.manager import get_hooks

    server.mode = mode
    with pytest.raises(error, match=words):
        get_hooks().embed_texts(["x"], "query")
    outcome = ingest_bytes(collection, "a.md", b"# A\n\nText.\n")[0]
    assert outcome.status == "failed" and outcome.reason == "embedding" and not collection.documents.exists()


def test_unreachable_service_is_retryable(settings, collection):
    settings.GOVAI = {"EMBEDDINGS": {"BACKEND": "openai", "URL": "http://127.0.0.1:9", "TIMEOUT": 2.0}}
    from govai_plugin.hooks.manager import get_hooks

    with pytest.raises(EmbeddingServiceUnavailable, match="unreachable"):
        get_hooks().embed_texts(["x"], "query")
