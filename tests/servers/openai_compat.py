"""A small OpenAI-compatible chat server on 127.0.0.1 for fault injection.

It answers POST /v1/chat/completions like TGI, vLLM or llama-server (streaming
with server-sent events, or one JSON body), records every request, and can be
told to fail: ``mode`` is one of ok, 500, slow, garbage, die_midstream; ``fail_first``
makes only the first N requests fail in that mode.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, reply: str = "The decision takes 30 days [1].") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reply = reply
        #: Optional ``f(request_body) -> reply text``: a model whose answer depends on its prompt.
        self.responder = None
        self.mode = "ok"
        self.fail_first: int | None = None
        self.slow_seconds = 5.0
        self.word_delay = 0.0  # seconds between streamed words
        self.requests: list[dict] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()

    def reply_for(self, body: dict) -> str:
        return self.responder(body) if self.responder else self.reply

    def current_mode(self) -> str:
        if self.fail_first is not None and len(self.requests) > self.fail_first:
            return "ok"
        return self.mode


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        server: ChatServer = self.server
        server.requests.append({"path": self.path, "body": body})
        mode = server.current_mode()
        if mode == "500":
            return self._json(500, {"error": "model overloaded"})
        if mode == "slow":
            time.sleep(server.slow_seconds)
            return self._json(200, self._completion(body))
        if mode == "garbage":
            return self._raw(200, b"<html><body>502 Bad Gateway from some proxy</body></html>", "application/json")
        if body.get("stream"):
            return self._stream(body, die=(mode == "die_midstream"))
        return self._json(200, self._completion(body))

    def _completion(self, body):
        return {
            "id": "cmpl-1", "object": "chat.completion", "created": int(time.time()), "model": "fake-llm-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.server.reply_for(body)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 9, "total_tokens": 109},
        }

    def _stream(self, body, die: bool):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        words = self.server.reply_for(body).split(" ")
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            if self.server.word_delay:
                time.sleep(self.server.word_delay)
            self._event({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake-llm-1",
                         "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": None}]})
            if die and i == 1:
                self.wfile.flush()
                self.close_connection = True
                return  # the server dies: no finish_reason, no [DONE]
        self._event({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake-llm-1",
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake-llm-1", "choices": [],
                         "usage": {"prompt_tokens": 100, "completion_tokens": len(words), "total_tokens": 100 + len(words)}})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _event(self, payload):
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()

    def _json(self, code, payload):
        self._raw(code, json.dumps(payload).encode(), "application/json")

    def _raw(self, code, data, content_type):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
