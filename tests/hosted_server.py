"""A local HTTP server speaking the documented request and response shapes of the OpenAI Images API
(`POST /v1/images/generations` as JSON, `POST /v1/images/edits` as multipart form data; answers
`{"created", "data": [{"b64_json"}]}` with an `x-request-id` header; errors as `{"error": {...}}`),
for contract tests without the network. It records every request it is sent and answers with a
deterministic picture unlike what it was given (inverted, with noise), so a test can tell which
pixels came back from the service."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image


class OpenAIImages:
    def __init__(self):
        self.requests: list[dict] = []
        self.fail_with: tuple[int, str] | None = None  # (status, message) to answer instead of an image
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                record = {"path": self.path, "authorization": self.headers.get("Authorization", "")}
                if self.path.endswith("/images/generations"):
                    record.update(json.loads(body))
                elif self.path.endswith("/images/edits"):
                    message = BytesParser(policy=HTTP).parsebytes(
                        b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
                    for part in message.iter_parts():
                        name = part.get_param("name", header="content-disposition")
                        payload = part.get_payload(decode=True)
                        if part.get_filename():
                            record[name] = np.asarray(Image.open(io.BytesIO(payload)))
                        else:
                            record[name] = payload.decode()
                else:
                    self.send_error(404)
                    return
                server.requests.append(record)
                if server.fail_with:
                    status, text = server.fail_with
                    self._json(status, {"error": {"message": text, "type": "invalid_request_error", "code": None}})
                    return
                w, h = (int(v) for v in record.get("size", "1024x1024").split("x"))
                self._json(200, {"created": 1700000000, "data": [{"b64_json": _picture(record, w, h)}]})

            def _json(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-request-id", f"req_{len(server.requests):04d}")
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _picture(record: dict, w: int, h: int) -> str:
    """A deterministic image of the prompt, unlike any given image: the input
    (if any) inverted, plus a pattern seeded by the prompt."""
    seed = int.from_bytes(hashlib.sha256(str(record.get("prompt", "")).encode()).digest()[:4], "big")
    noise = np.random.default_rng(seed).integers(0, 60, (h, w, 3), dtype=np.uint8)
    given = record.get("image")
    if isinstance(given, np.ndarray):
        base = 255 - np.asarray(Image.fromarray(given).convert("RGB").resize((w, h)))
    else:
        base = np.full((h, w, 3), 90, np.uint8)
    out = (base.astype(np.int16) + noise).clip(0, 255).astype(np.uint8)
    data = io.BytesIO()
    Image.fromarray(out).save(data, format="PNG", compress_level=1)
    return base64.b64encode(data.getvalue()).decode()


class GeminiImages:
    """The documented shape of Gemini's `POST /v1beta/models/{model}:generateContent` with image
    output (`contents[].parts[]` of text and `inlineData`; answered with
    `candidates[0].content.parts[].inlineData` and a `responseId`; errors as `{"error": {code,
    message, status}}`). Records every request; answers like `OpenAIImages`."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail_with: tuple[int, str] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if ":generateContent" not in self.path:
                    self.send_error(404)
                    return
                parts = [p for c in body["contents"] for p in c["parts"]]
                record = {"path": self.path, "key": self.headers.get("x-goog-api-key", ""),
                          "prompt": " ".join(p["text"] for p in parts if "text" in p),
                          "config": body.get("generationConfig", {})}
                for p in parts:
                    inline = p.get("inlineData") or p.get("inline_data")
                    if inline:
                        data = inline["data"]  # base64, URL-safe as the SDK sends bytes
                        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
                        record["image"] = np.asarray(Image.open(io.BytesIO(raw)))
                server.requests.append(record)
                if server.fail_with:
                    status, text = server.fail_with
                    self._json(status, {"error": {"code": status, "message": text, "status": "INVALID_ARGUMENT"}})
                    return
                aspect = record["config"].get("imageConfig", {}).get("aspectRatio", "1:1")
                from brief.runtime.backends.gemini import ASPECTS

                w, h = ASPECTS[aspect]
                image = {"inlineData": {"mimeType": "image/png", "data": _picture(record, w, h)}}
                self._json(200, {"candidates": [{"content": {"role": "model", "parts": [image]},
                                                 "finishReason": "STOP"}],
                                 "responseId": f"resp-{len(server.requests):04d}"})

            def _json(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    __enter__ = OpenAIImages.__enter__
    __exit__ = OpenAIImages.__exit__
