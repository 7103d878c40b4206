"""A small OpenAI-compatible images server on loopback (`POST /v1/images/generations`).

`ImageServer().url` is a base URL ending in /v1. It draws a real PNG with PIL for each
picture asked (`render(prompt, seed, size)`: a colour from the prompt and seed, a band
whose place depends on the seed) and answers `{"data": [{"b64_json": ...}, ...]}`.
Each request takes its behaviour from `server.script` (popped), then `server.default`:

  ok          n pictures (n from the body), seeds seed, seed+1, ... (seed 0 when none)
  one         one picture whatever n asks (a server ignoring n)
  n1          HTTP 400 "n must be 1" when n > 1, else as ok
  url         the pictures as URLs on this server (GET /files/N.png)
  elsewhere   a URL on another origin (http://127.0.0.2:PORT/...)
  garbage     b64_json that is not base64
  text        b64_json that is base64 of text, not a picture
  size        HTTP 400 naming the sizes it accepts
  slow        waits `slow_s` seconds, then as ok (for timeouts and cancel)
  404, 500    that status with an OpenAI-style error body

With `key=...` every request needs `Authorization: Bearer <key>`; else a 401 whose text
quotes the key it got (as hosted APIs do: the client must blank it). Only `models` are
served (404 otherwise). Every request is recorded in `server.requests` (method, path,
headers, body).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw


def render(prompt: str, seed: int, size: tuple[int, int]) -> Image.Image:
    """The picture the server makes: the same for the same prompt, seed and size."""
    digest = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()
    image = Image.new("RGB", size, tuple(digest[:3]))
    band = seed % max(1, size[1] - 8)
    ImageDraw.Draw(image).rectangle((0, band, size[0] - 1, band + 7), fill=tuple(digest[3:6]))
    return image


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class ImageServer:
    def __init__(self, key: str | None = None, models: list[str] | None = None) -> None:
        self.key = key
        self.models = models or ["tiny-painter"]
        self.script: list[str] = []
        self.default = "ok"
        self.slow_s = 3.0
        self.requests: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
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

    def image_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/v1/images/generations"]

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up mid-reply (timeout, cancel) is part of the tests


class _Handler(BaseHTTPRequestHandler):
    owner: ImageServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(status, json.dumps({"error": {"message": message, "type": "error"}}).encode())

    def _record(self, body: Any) -> None:
        with self.owner._lock:
            self.owner.requests.append({"method": self.command, "path": self.path,
                                        "headers": dict(self.headers), "body": body})  # fmt: skip

    def _authorized(self) -> bool:
        key = self.owner.key
        got = self.headers.get("Authorization", "")
        if key is not None and got != f"Bearer {key}":
            self._error(401, f"Incorrect API key provided: {got.removeprefix('Bearer ')}.")
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802
        self._record(None)
        if not self._authorized():
            return
        if self.path == "/v1/models":
            data = [{"id": m, "object": "model"} for m in self.owner.models]
            self._send(200, json.dumps({"object": "list", "data": data}).encode())
        elif self.path in (f"/files/{name}" for name in self.owner.files):
            self._send(200, self.owner.files[self.path.removeprefix("/files/")], "image/png")
        else:
            self._error(404, "not found")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = None
        self._record(body)
        if self.path != "/v1/images/generations" or not isinstance(body, dict):
            self._error(404, "not found")
            return
        if not self._authorized():
            return
        behaviour = self.owner.next_behaviour()
        if behaviour == "slow":
            time.sleep(self.owner.slow_s)
            behaviour = "ok"
        if body.get("model") not in self.owner.models:
            self._error(404, f"The model `{body.get('model')}` does not exist.")
            return
        n = int(body.get("n") or 1)
        if behaviour in ("404", "500"):
            self._error(int(behaviour), "the images backend is down")
            return
        if behaviour == "size":
            self._error(400, f"Invalid size {body.get('size')}: size must be one of 256x256, "
                             "512x512, 1024x1024.")  # fmt: skip
            return
        if behaviour == "n1" and n > 1:
            self._error(400, "n must be 1 for this model.")
            return
        if behaviour == "one":
            n = 1
        width, height = (int(v) for v in str(body.get("size", "64x64")).split("x"))
        seed = int(body.get("seed") or 0)
        items = []
        for i in range(n):
            data = png(render(str(body.get("prompt")), seed + i, (width, height)))
            if behaviour == "garbage":
                items.append({"b64_json": "this is not base64 at all!!"})
            elif behaviour == "text":
                items.append({"b64_json": base64.b64encode(b"<html>not a picture</html>").decode()})
            elif behaviour == "url":
                name = f"{len(self.owner.files)}.png"
                self.owner.files[name] = data
                items.append({"url": f"http://127.0.0.1:{self.owner.port}/files/{name}"})
            elif behaviour == "elsewhere":
                items.append({"url": f"http://127.0.0.2:{self.owner.port}/files/x.png"})
            else:
                items.append({"b64_json": base64.b64encode(data).decode()})
        self._send(200, json.dumps({"created": int(time.time()), "data": items}).encode())
