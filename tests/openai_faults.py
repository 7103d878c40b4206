"""A small OpenAI-compatible server on loopback that misbehaves on request.

`FaultServer().url` is a base URL ending in /v1. Chat requests take their
behaviour from `server.script` (popped, first in first out) and then from
`server.default`:

  ok                 the reply REPLY as SSE chunks, then a usage chunk and [DONE]
  nousage            the same without the usage chunk
  slow               a word every 50 ms, 400 words (for cancel tests)
  json               one non-streaming JSON completion (a server ignoring stream=true)
  401, 403, 404, 500, 503   that status with an OpenAI-style error body
  429:N              HTTP 429 with `Retry-After: N`
  break              two chunks, then the connection is closed mid-body
  malformed          one good chunk, then a chunk that is not JSON
  truncated          three chunks, then a clean end of body: no finish_reason, no [DONE]
  hangup             the request is read, then the connection is closed with no answer
  reasoning          two `reasoning_content` deltas, one `reasoning` delta, then the reply
  hugeline           one chunk, then a 3 MB line with no newline (a server gone wrong)
  echo               the reply is the last user message (for markup/escape tests)
  redirect:URL       HTTP 307 to URL (also as `models_behaviour`, for GET /v1/models)

`server.replies` scripts the reply texts (popped in order before REPLY is used);
`reject_response_format` answers 400 to a request that asks for structured output.

With `key=...` every request needs `Authorization: Bearer <key>` (else 401).
Every request is recorded in `server.requests` (method, path, headers, body).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY = "Hello from the fault server."
USAGE = {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17}


class FaultServer:
    def __init__(self, key: str | None = None, models: list[str] | None = None) -> None:
        self.key = key
        self.models = models or ["fault-model", "other-model"]
        self.contexts: dict[str, int] = {}  # model -> max_model_len in the listing (as vLLM)
        self.script: list[str] = []
        self.default = "ok"
        self.models_behaviour = "ok"
        self.error_text: str | None = None  # replaces the message of every error body
        self.replies: list[str] = []  # scripted reply texts, used (popped) before REPLY
        self.reject_response_format = False  # 400 to a request with response_format
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(_Handler):
            owner = server

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def next_behaviour(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-reply is part of the tests


def _chunk(content: str | None = None, finish: str | None = None,
           reasoning: tuple[str, str] | None = None, **extra: Any) -> bytes:  # fmt: skip
    delta = {} if content is None else {"content": content}
    if reasoning is not None:  # (field, text): vLLM/DeepSeek "reasoning_content", others "reasoning"
        delta[reasoning[0]] = reasoning[1]
    data = {"id": "c1", "object": "chat.completion.chunk", "model": "fault-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}  # fmt: skip
    return b"data: " + json.dumps(data).encode() + b"\n\n"


class _Handler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _record(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        entry = {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        self.owner.requests.append(entry)
        return entry

    def _authorized(self) -> bool:
        if self.owner.key and self.headers.get("Authorization") != f"Bearer {self.owner.key}":
            self._error(401, "Incorrect API key provided.")
            return False
        return True

    def _send(self, status: int, body: bytes, ctype: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, **headers: str) -> None:
        text = self.owner.error_text or message
        body = {"error": {"message": text, "type": "test_error", "code": status}}
        self._send(status, json.dumps(body).encode(), **headers)

    def do_GET(self) -> None:
        self._record()
        if not self._authorized():
            return
        if self.path.rstrip("/") != "/v1/models":
            self._error(404, "Not found")
            return
        b = self.owner.models_behaviour
        if b.startswith("redirect:"):
            self._send(307, b"", Location=b.partition(":")[2])
        elif b == "ok":
            data = {"object": "list", "data": [
                {"id": m, "object": "model"} | ({"max_model_len": self.owner.contexts[m]}
                                                if m in self.owner.contexts else {})
                for m in self.owner.models]}  # fmt: skip
            self._send(200, json.dumps(data).encode())
        elif b == "html":
            self._send(200, b"<html>login page</html>", "text/html")
        elif b == "huge":  # a listing that never ends (~20 MB of models)
            self._send(200, b'{"data": [' + b'{"id": "m"},' * 2_000_000 + b'{"id": "m"}]}')
        else:
            self._error(int(b), "models failed")

    def do_POST(self) -> None:
        entry = self._record()
        if not self._authorized():
            return
        if not self.path.endswith("/chat/completions"):
            self._error(404, "Not found")
            return
        b = self.owner.next_behaviour()
        model = (entry["body"] or {}).get("model")
        if b.startswith("redirect:"):
            self._send(307, b"", Location=b.partition(":")[2])
        elif self.owner.reject_response_format and "response_format" in (entry["body"] or {}):
            self._error(400, "response_format is not supported")
        elif model not in self.owner.models:
            self._error(404, f"The model `{model}` does not exist.")
        elif b.isdigit():
            self._error(int(b), f"fault {b}")
        elif b.startswith("429"):
            wait = b.partition(":")[2] or "1"
            self._error(429, "Rate limit reached.", Retry_After=wait)
        elif b == "hangup":
            self.close_connection = True
            self.connection.shutdown(2)  # read, maybe acted on, never answered
        elif b == "json":
            data = {"choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY},
                                 "finish_reason": "stop"}], "usage": USAGE}  # fmt: skip
            self._send(200, json.dumps(data).encode())
        else:
            self._stream(b, entry["body"])

    def _stream(self, behaviour: str, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def write(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        text = REPLY
        if self.owner.replies:  # scripted replies, first in first out
            with self.owner._lock:
                text = self.owner.replies.pop(0)
        if behaviour == "echo":
            text = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        words = [w + " " for w in text.split(" ")]
        words[-1] = words[-1].rstrip(" ")
        if behaviour == "slow":
            words = [f"word{i} " for i in range(400)]
        try:
            if behaviour == "hugeline":
                write(_chunk("Start "))
                for _ in range(48):
                    write(b"x" * 65536)
                write(b"")
                return
            if behaviour == "truncated":
                for word in ("Three ", "small ", "words"):
                    write(_chunk(word))
                write(b"")  # a clean end of the body: the server simply stopped
                return
            if behaviour in ("break", "malformed"):
                write(_chunk("Partial "))
                write(_chunk("reply "))
                if behaviour == "malformed":
                    write(b"data: {this is not json\n\n")
                    write(b"")  # the terminating chunk
                    return
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # mid-body: no terminating chunk
                return
            write(b": keep-alive\n\n")
            if behaviour == "reasoning":
                write(_chunk(reasoning=("reasoning_content", "The user greets. ")))
                write(_chunk(reasoning=("reasoning_content", "Greet back. ")))
                write(_chunk(reasoning=("reasoning", "Keep it short.")))
            for word in words:
                write(_chunk(word))
                if behaviour == "slow":
                    time.sleep(0.05)
            write(_chunk(finish="stop"))
            if behaviour != "nousage":
                write(b"data: " + json.dumps({"choices": [], "usage": USAGE}).encode() + b"\n\n")
            write(b"data: [DONE]\n\n")
            write(b"")
        except (BrokenPipeError, ConnectionResetError):
            pass
